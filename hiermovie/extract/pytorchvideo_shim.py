"""The one place that imports pytorchvideo: its model builders, without needing torchvision.

pytorchvideo 0.1.5 (the last PyPI release) cannot import `pytorchvideo.models` without torchvision:
`models/__init__.py` imports `models/head.py`, whose first lines run `from torchvision.ops import RoIAlign`.
RoIAlign is used only by the detection head (`create_res_roi_pooling_head`), which we never build. No
torchvision wheel works with our CPU torch (shared/notes/platform.md section 2), so when torchvision does
not import we put a stub `torchvision` + `torchvision.ops` into `sys.modules` for the length of that one
import, with a placeholder `RoIAlign` that refuses to be built, and take the stub out again afterwards:
`head.py` keeps its reference to the placeholder and no other code ever sees a fake torchvision. A real,
importable torchvision is left alone. Nothing else in `pytorchvideo.models` imports torchvision.

Everything else imports pytorchvideo through this module; add re-exports here when more is needed.
"""

import importlib
import sys
import types
import warnings

from torch import nn

_STUB_NAMES = ("torchvision", "torchvision.ops")
_STUB_MARK = "_hiermovie_stub"  # attribute set on our stub modules, so we only ever remove our own


class _RoIAlignPlaceholder(nn.Module):
    """Stands in for `torchvision.ops.RoIAlign`, which only pytorchvideo's detection head would build."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError(
            "torchvision.ops.RoIAlign is a placeholder (torchvision is not installed): "
            "pytorchvideo's detection head cannot be built"
        )


def torchvision_importable() -> bool:
    """Whether a real `torchvision.ops` imports (a CUDA-linked build on CPU torch raises RuntimeError)."""
    try:
        importlib.import_module("torchvision.ops")
    except (ImportError, RuntimeError, OSError):
        return False
    return True


def install_torchvision_stub() -> bool:
    """Put the stub `torchvision` and `torchvision.ops` into `sys.modules` unless torchvision imports.

    Returns True if the stub was installed (undo with `remove_torchvision_stub`), False if a real
    torchvision is importable and was left alone.
    """
    if torchvision_importable():
        return False
    torchvision = types.ModuleType("torchvision", "stub installed by hiermovie.extract.pytorchvideo_shim")
    ops = types.ModuleType("torchvision.ops", "stub installed by hiermovie.extract.pytorchvideo_shim")
    ops.RoIAlign = _RoIAlignPlaceholder
    torchvision.ops = ops
    for module in (torchvision, ops):
        setattr(module, _STUB_MARK, True)
    sys.modules["torchvision"] = torchvision
    sys.modules["torchvision.ops"] = ops
    return True


def remove_torchvision_stub() -> None:
    """Take our stub modules out of `sys.modules` again (anything else under those names stays)."""
    for name in _STUB_NAMES:
        if getattr(sys.modules.get(name), _STUB_MARK, False):
            del sys.modules[name]


def _import_create_resnet():
    stubbed = install_torchvision_stub()
    try:
        with warnings.catch_warnings():
            # fvcore and pytorchvideo call torch.jit.script at import time (deprecated in torch 2.13); not ours to fix
            warnings.filterwarnings("ignore", r"`torch\.jit\.script` is deprecated", DeprecationWarning)
            from pytorchvideo.models.resnet import create_resnet
    finally:
        if stubbed:
            remove_torchvision_stub()
    return create_resnet


create_resnet = _import_create_resnet()

__all__ = ["create_resnet", "install_torchvision_stub", "remove_torchvision_stub", "torchvision_importable"]
