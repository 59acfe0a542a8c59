"""Starting from released weights: load a pytorchvideo, PySlowFast or MaCLR checkpoint into Slow-D, strictly.

Two namings of the same network occur in released checkpoints:
- pytorchvideo (`slow_r50`'s `SLOW_8x8_R50.pyth`, and our own `SlowD.net`): `blocks.0.conv.weight`, ...
- PySlowFast, which MaCLR/MoDist build on: `s1.pathway0_stem.conv.weight`, ...; MaCLR keeps the query
  encoder of its SSL wrapper under `encoder_q.`.
The naming is detected from the keys, mapped to pytorchvideo's and checked against the model: every
missing, unexpected or misshapen tensor is an error (a silently half-loaded backbone would only show up as
bad downstream numbers). Classifier heads and the rest of an SSL wrapper are dropped; the one reshaping done
is the I3D inflation of a 1-frame stem conv (`slow_r50`) to Slow-D's temporal kernel.
"""

import pickle
import re
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from hiermovie.errors import HiermovieError, InputFileError
from hiermovie.extract.backbone import SlowD

# where a checkpoint file keeps its state dict, tried in this order; otherwise the top level is the state dict
# (PySlowFast/pytorchvideo `.pyth`: "model_state"; MaCLR also reads "model_state_dict"; Lightning: "state_dict")
# "backbone": hiermovie's own checkpoints (`hiermovie backbone pretrain`), the Slow-D's state as `net.blocks...`
_STATE_KEYS = ("backbone", "model_state", "model_state_dict", "state_dict", "model")
# prefixes of wrappers around the backbone, stripped from the front of a key (also several, `module.encoder_q.`)
_WRAPPER_PREFIXES = ("module.", "encoder_q.", "backbone.", "net.")

_STEM_CONV = "blocks.0.conv.weight"
_PYTORCHVIDEO_HEAD = "blocks.5."  # create_resnet's head block follows stem + 4 stages
_LISTED = 3  # keys named per kind of error

_PYTORCHVIDEO_NAMING = re.compile(r"blocks\.\d+\.")
_SLOWFAST_NAMING = re.compile(r"s\d+\.pathway\d+_")
_SLOWFAST_BACKBONE = re.compile(r"s\d+\.")  # s1 (stem) .. s5 (res5); anything else is head or SSL wrapper
_SLOWFAST_STEM = re.compile(r"s1\.pathway0_stem\.(conv|bn)\.(\w+)")
_SLOWFAST_BRANCH1 = re.compile(r"s([2-5])\.pathway0_res(\d+)\.(branch1|branch1_bn)\.(\w+)")
_SLOWFAST_BRANCH2 = re.compile(r"s([2-5])\.pathway0_res(\d+)\.branch2\.([abc])(_bn)?\.(\w+)")


def _strip_wrappers(key: str) -> str:
    while key.startswith(_WRAPPER_PREFIXES):
        key = key.split(".", 1)[1]
    return key


def slowfast_to_pytorchvideo(key: str) -> str | None:
    """The pytorchvideo name of a PySlowFast/MaCLR key, or None for a head or SSL-wrapper key.

    Wrapper prefixes (`module.`, `encoder_q.`, `backbone.`) are stripped first; then (k = 2..5, i = block):

    ::

        PySlowFast / MaCLR                          pytorchvideo
        s1.pathway0_stem.conv.weight                blocks.0.conv.weight
        s1.pathway0_stem.bn.*                       blocks.0.norm.*
        s{k}.pathway0_res{i}.branch1.weight         blocks.{k-1}.res_blocks.{i}.branch1_conv.weight
        s{k}.pathway0_res{i}.branch1_bn.*           blocks.{k-1}.res_blocks.{i}.branch1_norm.*
        s{k}.pathway0_res{i}.branch2.a.weight       blocks.{k-1}.res_blocks.{i}.branch2.conv_a.weight
        s{k}.pathway0_res{i}.branch2.a_bn.*         blocks.{k-1}.res_blocks.{i}.branch2.norm_a.*
          (the same for b and c)
        head.*                                      None (classifier: head.projection.*)
        not under s1..s5                            None (SSL wrapper: encoder_k.*, queues, MLPs, ...)

    Any other key under s1..s5 (a second pathway, a non-local block) comes back unchanged, so that loading
    reports it as unexpected.
    """
    key = _strip_wrappers(key)
    if not _SLOWFAST_BACKBONE.match(key):
        return None  # head.* or SSL wrapper
    if match := _SLOWFAST_STEM.fullmatch(key):
        layer, name = match.groups()
        return f"blocks.0.{'conv' if layer == 'conv' else 'norm'}.{name}"
    if match := _SLOWFAST_BRANCH1.fullmatch(key):
        stage, block, layer, name = match.groups()
        layer = "branch1_conv" if layer == "branch1" else "branch1_norm"
        return f"blocks.{int(stage) - 1}.res_blocks.{block}.{layer}.{name}"
    if match := _SLOWFAST_BRANCH2.fullmatch(key):
        stage, block, abc, bn, name = match.groups()
        layer = f"norm_{abc}" if bn else f"conv_{abc}"
        return f"blocks.{int(stage) - 1}.res_blocks.{block}.branch2.{layer}.{name}"
    return key


def _pytorchvideo_key(key: str) -> str | None:
    """The model key of a pytorchvideo-named key: wrappers stripped; None for the head or an SSL wrapper."""
    key = _strip_wrappers(key)
    if key.startswith(_PYTORCHVIDEO_HEAD) or not key.startswith("blocks."):
        return None
    return key


def _inflate_stem(weight: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    # I3D inflation (Carreira & Zisserman 2017): a stem conv of temporal size 1 (pytorchvideo slow_r50:
    # (64, 3, 1, 7, 7)) becomes temporal size T (Slow-D: 5) by repeating it T times along time and dividing
    # by T, so on a static clip (all frames equal) the inflated conv gives the same response as the original.
    fits = weight.ndim == len(shape) == 5 and weight.shape[:2] == shape[:2] and weight.shape[3:] == shape[3:]
    if fits and weight.shape[2] == 1 and shape[2] > 1:
        return weight.repeat(1, 1, shape[2], 1, 1) / shape[2]  # (C_out, C_in, T, kH, kW)
    return weight


def load_pretrained_backbone(backbone: SlowD, source: str | Path | Mapping) -> None:
    """Load released weights into `backbone.net` in place; raise `HiermovieError` unless they fit exactly.

    `source` is a checkpoint file (read with `torch.load(weights_only=True)`; the state dict is taken from
    "model_state", "model_state_dict", "state_dict" or "model", else the top level) or such a dict, in
    pytorchvideo or PySlowFast/MaCLR naming, possibly under `module.`, `encoder_q.` or `backbone.`.
    Head and SSL-wrapper keys are dropped, a 1-frame stem conv is inflated, missing `num_batches_tracked`
    counters keep the model's value. Anything else that does not fit raises, in one line, e.g.
    `w.pyth: weights do not fit Slow-D: 3 missing (a, b, c), 1 shape mismatch (key: (8, 3) vs (8, 4))`,
    at most three keys per kind; shapes are the checkpoint's vs the model's.
    """
    path = None if isinstance(source, Mapping) else Path(source)
    checkpoint = source if path is None else _read_checkpoint(path)
    state = _state_dict_of(checkpoint)

    def fail(problem: str) -> HiermovieError:
        return HiermovieError(f"state dict: {problem}") if path is None else InputFileError(path, problem)

    to_model_key = _detect_naming(state, fail)
    expected = backbone.net.state_dict()
    loaded: dict[str, torch.Tensor] = {}  # model key -> checkpoint tensor
    unexpected: list[str] = []  # checkpoint keys as written there
    for key, value in state.items():
        model_key = to_model_key(key)
        if model_key is None:
            continue
        if model_key in expected and isinstance(value, torch.Tensor):
            loaded[model_key] = value
        else:
            unexpected.append(key)
    if _STEM_CONV in loaded:
        loaded[_STEM_CONV] = _inflate_stem(loaded[_STEM_CONV], expected[_STEM_CONV].shape)

    missing = []
    for key, value in expected.items():
        if key in loaded:
            continue
        if key.endswith(".num_batches_tracked"):
            loaded[key] = value  # not in older checkpoints; only BatchNorm's momentum=None mode reads it
        else:
            missing.append(key)
    mismatched = [
        f"{key}: {_shape(value)} vs {_shape(expected[key])}"
        for key, value in loaded.items()
        if value.shape != expected[key].shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing ({_listed(missing)})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected ({_listed(unexpected)})")
    if mismatched:
        plural = "es" if len(mismatched) > 1 else ""
        problems.append(f"{len(mismatched)} shape mismatch{plural} ({_listed(mismatched)})")
    if problems:
        raise fail("weights do not fit Slow-D: " + ", ".join(problems))
    backbone.net.load_state_dict(loaded, strict=True)


def _read_checkpoint(path: Path) -> Mapping:
    if not path.is_file():
        raise InputFileError(path, "weights file not found")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as err:
        raise InputFileError(path, f"cannot read weights: {_load_error_cause(err)}") from err
    if not isinstance(checkpoint, Mapping):
        raise InputFileError(path, f"not a checkpoint: holds a {type(checkpoint).__name__}, not a dict")
    return checkpoint


def _load_error_cause(err: Exception) -> str:
    """The first sentence of torch.load's cause: its messages run to paragraphs of advice."""
    text = str(err)
    _, weights_only, cause = text.partition("WeightsUnpickler error:")
    if weights_only:  # a non-tensor object (or not a pickle at all); the cause follows this marker
        text = cause
    paragraph = text.strip().split("\n\n")[0]
    sentence = " ".join(paragraph.split()).split(". ")[0].rstrip(".")
    sentence = sentence or type(err).__name__
    return f"torch.load(weights_only=True) refused it: {sentence}" if weights_only else sentence


def _state_dict_of(checkpoint: Mapping) -> Mapping:
    for name in _STATE_KEYS:
        if isinstance(checkpoint.get(name), Mapping):
            return checkpoint[name]
    return checkpoint


def _detect_naming(state: Mapping, fail: Callable[[str], HiermovieError]) -> Callable[[str], str | None]:
    keys = [_strip_wrappers(str(key)) for key in state]
    slowfast = any(_SLOWFAST_NAMING.match(key) for key in keys)
    pytorchvideo = any(_PYTORCHVIDEO_NAMING.match(key) for key in keys)
    if slowfast and not pytorchvideo:
        return slowfast_to_pytorchvideo
    if pytorchvideo and not slowfast:
        return _pytorchvideo_key
    sample = repr(next(iter(state))) if state else "none, the dict is empty"
    which = "mixes pytorchvideo and PySlowFast key names" if slowfast else "neither pytorchvideo nor PySlowFast naming"
    raise fail(f"not a Slow-D state dict: {which} (sample key: {sample})")


def _listed(items: list[str]) -> str:
    return ", ".join(items[:_LISTED]) + (", ..." if len(items) > _LISTED else "")


def _shape(tensor: torch.Tensor) -> str:
    return "(" + ", ".join(str(size) for size in tensor.shape) + ")"
