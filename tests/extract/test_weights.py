"""Loading released weights into Slow-D: both namings, wrappers, stem inflation, and strict errors."""

import re
from dataclasses import replace

import pytest
import torch

from hiermovie.errors import HiermovieError, InputFileError
from hiermovie.extract.backbone import create_slow_d
from hiermovie.extract.config import BACKBONE_PROFILES
from hiermovie.extract.pytorchvideo_shim import create_resnet
from hiermovie.extract.weights import load_pretrained_backbone, slowfast_to_pytorchvideo

TINY = replace(BACKBONE_PROFILES["tiny"], stem_dim_out=8)  # a small Slow-D: stem 8 channels, kernel (5, 7, 7)


def _randomise(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every tensor of the state dict random (running_var > 0), so equality checks mean something."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for value in module.state_dict().values():
            if value.is_floating_point():
                value.copy_(torch.rand(value.shape, generator=generator) + 0.1)
            else:
                value.fill_(int(torch.randint(1, 1000, (), generator=generator)))
    return module


def _to_slowfast(key: str) -> str:
    """pytorchvideo -> PySlowFast naming, written independently of the loader's mapping."""
    if stem := re.fullmatch(r"blocks\.0\.(conv|norm)\.(\w+)", key):
        return f"s1.pathway0_stem.{'conv' if stem[1] == 'conv' else 'bn'}.{stem[2]}"
    stage, block, rest = re.fullmatch(r"blocks\.(\d)\.res_blocks\.(\d+)\.(.+)", key).groups()
    rest = rest.replace("branch1_conv.", "branch1.").replace("branch1_norm.", "branch1_bn.")
    rest = re.sub(r"branch2\.conv_([abc])\.", r"branch2.\1.", rest)
    rest = re.sub(r"branch2\.norm_([abc])\.", r"branch2.\1_bn.", rest)
    return f"s{int(stage) + 1}.pathway0_res{block}.{rest}"


def _assert_state_equal(model: torch.nn.Module, reference: dict[str, torch.Tensor]) -> None:
    state = model.state_dict()
    assert state.keys() == reference.keys()
    for key, value in reference.items():
        assert torch.equal(state[key], value), key


@pytest.fixture
def source_state() -> dict[str, torch.Tensor]:
    """A tiny Slow-D's random weights in pytorchvideo naming."""
    return {key: value.clone() for key, value in _randomise(create_slow_d(TINY), seed=1).net.state_dict().items()}


# ---- the key mapping ----


@pytest.mark.parametrize(
    "key, expected",
    [
        ("s1.pathway0_stem.conv.weight", "blocks.0.conv.weight"),
        ("s1.pathway0_stem.bn.running_var", "blocks.0.norm.running_var"),
        ("s2.pathway0_res0.branch1.weight", "blocks.1.res_blocks.0.branch1_conv.weight"),
        ("s3.pathway0_res0.branch1_bn.bias", "blocks.2.res_blocks.0.branch1_norm.bias"),
        ("s4.pathway0_res5.branch2.a.weight", "blocks.3.res_blocks.5.branch2.conv_a.weight"),
        (
            "s5.pathway0_res2.branch2.c_bn.num_batches_tracked",
            "blocks.4.res_blocks.2.branch2.norm_c.num_batches_tracked",
        ),
        ("module.encoder_q.s4.pathway0_res1.branch2.b_bn.weight", "blocks.3.res_blocks.1.branch2.norm_b.weight"),
        ("backbone.s1.pathway0_stem.conv.weight", "blocks.0.conv.weight"),
        ("head.projection.weight", None),
        ("encoder_q.head.projection.bias", None),
        ("encoder_k.s1.pathway0_stem.conv.weight", None),
        ("queue", None),
        ("s2.pathway1_res0.branch1.weight", "s2.pathway1_res0.branch1.weight"),  # SlowFast's fast path: unexpected
    ],
)
def test_slowfast_to_pytorchvideo(key, expected):
    assert slowfast_to_pytorchvideo(key) == expected


# ---- loading ----


def test_pytorchvideo_naming_with_head_and_one_frame_stem_is_inflated():
    # slow_r50's layout at tiny widths: 1x7x7 stem with T-stride 1, a 400-class head
    source = create_resnet(
        model_depth=50, stem_dim_out=TINY.stem_dim_out, stem_conv_kernel_size=(1, 7, 7), stem_conv_stride=(1, 2, 2)
    ).eval()
    _randomise(source, seed=2)
    state = source.state_dict()
    width = TINY.stem_dim_out
    assert state["blocks.0.conv.weight"].shape == (width, 3, 1, 7, 7) and "blocks.5.proj.weight" in state

    model = create_slow_d(TINY).eval()
    load_pretrained_backbone(model, state)
    expected = {key: value for key, value in state.items() if not key.startswith("blocks.5.")}
    expected["blocks.0.conv.weight"] = state["blocks.0.conv.weight"].repeat(1, 1, 5, 1, 1) / 5
    _assert_state_equal(model.net, expected)

    # a static clip: the inflated 5x7x7 stem conv answers as the 1-frame conv did (away from the zero padding
    # in time: output frames 1 and 2 of 4 see input frames 0..4 and 2..6 of 8)
    frame = torch.randn(1, 3, 1, 64, 64)
    with torch.no_grad():
        inflated = model.net.blocks[0].conv(frame.expand(1, 3, 8, 64, 64))  # (1, W, 4, 32, 32)
        original = source.blocks[0].conv(frame)  # (1, W, 1, 32, 32)
    torch.testing.assert_close(inflated[:, :, 1:3], original.expand(1, width, 2, 32, 32), rtol=1e-5, atol=1e-5)


def test_maclr_pyth_in_slowfast_naming_loads_exactly(tmp_path, source_state):
    state = {f"encoder_q.{_to_slowfast(key)}": value for key, value in source_state.items()}
    # MaCLR's SSL wrapper around it: classifier, key encoder, queue; all dropped
    state["encoder_q.head.projection.weight"] = torch.randn(400, 256)
    state["encoder_q.head.projection.bias"] = torch.randn(400)
    state["encoder_k.s1.pathway0_stem.conv.weight"] = torch.randn(8, 3, 5, 7, 7)
    state["queue"] = torch.randn(128, 64)
    path = tmp_path / "maclr.pyth"
    torch.save({"epoch": 200, "model_state": state, "cfg": "MODEL:\n  ARCH: slow\n"}, path)

    model = create_slow_d(TINY)
    load_pretrained_backbone(model, path)
    _assert_state_equal(model.net, source_state)


@pytest.mark.parametrize("container", ["state_dict", "model", None])
@pytest.mark.parametrize("prefix", ["", "module.", "backbone.", "module.encoder_q."])
def test_containers_and_prefixes(tmp_path, source_state, container, prefix):
    state = {prefix + key: value for key, value in source_state.items()}
    path = tmp_path / "weights.pt"
    torch.save(state if container is None else {container: state}, path)
    model = create_slow_d(TINY)
    load_pretrained_backbone(model, str(path))
    _assert_state_equal(model.net, source_state)


def test_missing_num_batches_tracked_keeps_the_model_counters(source_state):
    state = {key: value for key, value in source_state.items() if not key.endswith("num_batches_tracked")}
    model = create_slow_d(TINY)
    load_pretrained_backbone(model, state)
    for key, value in model.net.state_dict().items():
        expected = torch.tensor(0) if key.endswith("num_batches_tracked") else source_state[key]
        assert torch.equal(value, expected), key


# ---- errors: one line, nothing loaded ----


def _load_fails(state_or_path, match: str) -> HiermovieError:
    model = create_slow_d(TINY)
    before = {key: value.clone() for key, value in model.net.state_dict().items()}
    with pytest.raises(HiermovieError) as info:
        load_pretrained_backbone(model, state_or_path)
    message = str(info.value)
    assert message == match
    assert "\n" not in message
    _assert_state_equal(model.net, before)
    return info.value


def test_missing_keys(source_state):
    for key in ["blocks.0.conv.weight", "blocks.0.norm.weight", "blocks.0.norm.bias", "blocks.0.norm.running_mean"]:
        del source_state[key]
    _load_fails(
        source_state,
        "state dict: weights do not fit Slow-D: "
        "4 missing (blocks.0.conv.weight, blocks.0.norm.weight, blocks.0.norm.bias, ...)",
    )


def test_unexpected_key_is_named_as_in_the_checkpoint(source_state):
    state = {f"encoder_q.{_to_slowfast(key)}": value for key, value in source_state.items()}
    state["encoder_q.s5.pathway0_res3.branch2.a.weight"] = torch.randn(64, 256, 3, 1, 1)  # a 4th res5 block
    _load_fails(
        state, "state dict: weights do not fit Slow-D: 1 unexpected (encoder_q.s5.pathway0_res3.branch2.a.weight)"
    )


def test_shape_mismatch(source_state):
    source_state["blocks.1.res_blocks.0.branch2.conv_b.weight"] = torch.randn(8, 8, 3, 3, 3)
    _load_fails(
        source_state,
        "state dict: weights do not fit Slow-D: "
        "1 shape mismatch (blocks.1.res_blocks.0.branch2.conv_b.weight: (8, 8, 3, 3, 3) vs (8, 8, 1, 3, 3))",
    )


def test_stem_of_temporal_size_three_is_not_inflated(source_state):
    source_state["blocks.0.conv.weight"] = torch.randn(8, 3, 3, 7, 7)
    _load_fails(
        source_state,
        "state dict: weights do not fit Slow-D: "
        "1 shape mismatch (blocks.0.conv.weight: (8, 3, 3, 7, 7) vs (8, 3, 5, 7, 7))",
    )


def test_all_problems_in_one_line_naming_the_file(tmp_path, source_state):
    del source_state["blocks.4.res_blocks.2.branch2.norm_c.running_var"]
    source_state["blocks.4.res_blocks.3.branch2.conv_a.weight"] = torch.randn(64, 256, 3, 1, 1)
    source_state["blocks.4.res_blocks.4.branch2.conv_a.weight"] = torch.randn(64, 256, 3, 1, 1)
    source_state["blocks.0.norm.weight"] = torch.randn(16)
    path = tmp_path / "SLOW_8x8_R50.pyth"
    torch.save({"model_state": source_state}, path)
    error = _load_fails(
        path,
        f"{path}: weights do not fit Slow-D: 1 missing (blocks.4.res_blocks.2.branch2.norm_c.running_var), "
        "2 unexpected (blocks.4.res_blocks.3.branch2.conv_a.weight, blocks.4.res_blocks.4.branch2.conv_a.weight), "
        "1 shape mismatch (blocks.0.norm.weight: (16) vs (8))",
    )
    assert isinstance(error, InputFileError) and error.path == path


def test_unrecognised_naming(tmp_path):
    state = {"layer1.0.conv1.weight": torch.randn(64, 64, 3, 3), "fc.weight": torch.randn(1000, 2048)}
    _load_fails(
        state,
        "state dict: not a Slow-D state dict: neither pytorchvideo nor PySlowFast naming "
        "(sample key: 'layer1.0.conv1.weight')",
    )
    path = tmp_path / "resnet2d.pth"
    torch.save({"state_dict": state}, path)
    _load_fails(
        path,
        f"{path}: not a Slow-D state dict: neither pytorchvideo nor PySlowFast naming "
        "(sample key: 'layer1.0.conv1.weight')",
    )


def test_unreadable_and_absent_files(tmp_path):
    text = tmp_path / "notes.pyth"
    text.write_text("not a checkpoint\n")
    _load_fails(text, f"{text}: cannot read weights: torch.load(weights_only=True) refused it: Unsupported operand 110")
    tensor = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor)
    _load_fails(tensor, f"{tensor}: not a checkpoint: holds a Tensor, not a dict")
    _load_fails(tmp_path / "absent.pyth", f"{tmp_path / 'absent.pyth'}: weights file not found")


@pytest.mark.parametrize("method", ["cvrl", "modist"])
def test_a_hiermovie_pretraining_checkpoint_loads_its_backbone(tmp_path, method):
    """`--init` takes our own `backbone pretrain` checkpoints too (continued pretraining, Table 4's +VS)."""
    from hiermovie.checkpoint import save_checkpoint
    from hiermovie.extract.methods import backbone_of, build_method

    config = replace(TINY, method=method)
    trained = _randomise(build_method(config, num_classes=3), seed=3)
    path = tmp_path / "checkpoint.pt"
    state = {"model": trained.state_dict(), "backbone": backbone_of(trained).state_dict()}
    save_checkpoint(path, kind="backbone", config=config, step=1, **state)
    model = create_slow_d(TINY)
    load_pretrained_backbone(model, path)
    _assert_state_equal(model.net, backbone_of(trained).net.state_dict())
