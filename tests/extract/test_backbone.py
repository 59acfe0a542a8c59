"""Slow-D: parameter count against pytorchvideo's own Slow-D, output shapes, and the torchvision shim."""

import sys
import types

import pytest
import torch

from hiermovie.extract import pytorchvideo_shim
from hiermovie.extract.backbone import SlowD, create_slow_d
from hiermovie.extract.config import BACKBONE_PROFILES
from hiermovie.extract.pytorchvideo_shim import create_resnet

PAPER = BACKBONE_PROFILES["paper"]
TINY = BACKBONE_PROFILES["tiny"]


def _num_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_paper_profile_has_the_parameter_count_of_pytorchvideo_slow_d_without_head():
    ours = _num_params(create_slow_d(PAPER))
    # Slow-D as shared/notes/lvu_and_backbone.md B builds it, with pytorchvideo's 400-class head
    reference = create_resnet(
        model_depth=50, stem_conv_kernel_size=(5, 7, 7), stem_conv_stride=(2, 2, 2), head_pool_kernel_size=(8, 7, 7)
    )
    assert _num_params(reference) == 32_491_728
    assert ours == _num_params(reference) - _num_params(reference.blocks[5])
    assert round(ours / 1e6, 2) == 31.67


@torch.inference_mode()
def test_tiny_profile_shapes():
    model = create_slow_d(TINY).eval()
    clips = torch.randn(2, 3, TINY.num_frames, TINY.crop_size, TINY.crop_size)  # (2, 3, 8, 64, 64)
    features = model.forward_features(clips)
    assert features.shape == (2, 512, 4, 2, 2)
    pooled = model(clips)
    assert pooled.shape == (2, model.feature_dim) == (2, TINY.feature_dim)
    torch.testing.assert_close(pooled, features.mean(dim=(2, 3, 4)))


@torch.inference_mode()
def test_paper_profile_on_a_small_input_gives_2048_features():
    model = create_slow_d(PAPER).eval()
    assert isinstance(model, SlowD) and model.feature_dim == PAPER.feature_dim == 2048
    clips = torch.randn(1, 3, 16, 64, 64)
    assert model.forward_features(clips).shape == (1, 2048, 8, 2, 2)  # 224 px would give (1, 2048, 8, 7, 7)
    assert model(clips).shape == (1, 2048)


@torch.inference_mode()
@pytest.mark.parametrize(
    "config, in_channels, features_shape",
    [(PAPER, 3, (1, 256, 8, 2, 2)), (TINY, 2, (1, 64, 4, 2, 2))],
    ids=["paper-rgb", "tiny-flow"],
)
def test_width_divisor_8_builds_the_motion_network(config, in_channels, features_shape):
    model = create_slow_d(config, width_divisor=8, in_channels=in_channels).eval()
    assert model.feature_dim == config.stem_dim_out // 8 * 32
    assert model.net.blocks[0].conv.weight.shape == (config.stem_dim_out // 8, in_channels, 5, 7, 7)
    clips = torch.randn(1, in_channels, config.num_frames, 64, 64)
    assert model.forward_features(clips).shape == features_shape
    assert model(clips).shape == (1, features_shape[1])


def test_width_divisor_must_divide_the_stem_width():
    with pytest.raises(ValueError, match="width_divisor 3 must divide stem_dim_out 64"):
        create_slow_d(PAPER, width_divisor=3)


@torch.inference_mode()
def test_channels_last_3d_gives_the_same_output():
    model = create_slow_d(TINY).eval()
    clips = torch.randn(2, 3, 8, 64, 64)
    expected = model(clips)
    model = model.to(memory_format=torch.channels_last_3d)
    got = model(clips.to(memory_format=torch.channels_last_3d))
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


def test_temporal_kernels_follow_the_slow_pattern():
    model = create_slow_d(TINY)
    stages = model.net.blocks[1:5]
    kernels = [{block.branch2.conv_a.kernel_size for block in stage.res_blocks} for stage in stages]
    assert kernels == [{(1, 1, 1)}, {(1, 1, 1)}, {(3, 1, 1)}, {(3, 1, 1)}]
    assert model.net.blocks[0].conv.kernel_size == (5, 7, 7) and model.net.blocks[0].conv.stride == (2, 2, 2)


# ---- the torchvision shim ----


def test_shim_leaves_no_fake_torchvision_behind():
    assert not getattr(sys.modules.get("torchvision"), "_hiermovie_stub", False)
    assert not getattr(sys.modules.get("torchvision.ops"), "_hiermovie_stub", False)


def test_shim_leaves_an_importable_torchvision_alone(monkeypatch):
    real = types.ModuleType("torchvision")
    real_ops = types.ModuleType("torchvision.ops")
    real_ops.RoIAlign = object
    real.ops = real_ops
    monkeypatch.setitem(sys.modules, "torchvision", real)
    monkeypatch.setitem(sys.modules, "torchvision.ops", real_ops)
    assert pytorchvideo_shim.torchvision_importable()
    assert pytorchvideo_shim.install_torchvision_stub() is False
    pytorchvideo_shim.remove_torchvision_stub()
    assert sys.modules["torchvision"] is real and sys.modules["torchvision.ops"] is real_ops


def test_shim_stubs_a_missing_torchvision_and_removes_only_its_stub(monkeypatch):
    # None in sys.modules makes `import torchvision` fail, whether or not one is installed
    monkeypatch.setitem(sys.modules, "torchvision", None)
    monkeypatch.setitem(sys.modules, "torchvision.ops", None)
    assert not pytorchvideo_shim.torchvision_importable()
    assert pytorchvideo_shim.install_torchvision_stub() is True
    from torchvision.ops import RoIAlign  # the stub

    with pytest.raises(RuntimeError, match="placeholder"):
        RoIAlign((7, 7), 1.0, 0)
    pytorchvideo_shim.remove_torchvision_stub()
    assert "torchvision" not in sys.modules and "torchvision.ops" not in sys.modules
