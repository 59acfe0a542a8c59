"""Motion inputs: grey frame differences, Farneback flow on a known shift, precomputed flow files."""

import cv2
import numpy as np
import pytest
import torch

from hiermovie.errors import InputFileError
from hiermovie.extract.motion import MOTION_CHANNELS, MOTION_INPUTS, farneback_flow, grey_differences, load_flow_file


def moving_bar(t: int = 6, size: int = 32) -> torch.Tensor:
    """One clip (1, 3, T, size, size): a white 4-pixel bar moving right 3 pixels a frame on black."""
    clip = torch.zeros(1, 3, t, size, size)
    for i in range(t):
        clip[:, :, i, :, 3 * i : 3 * i + 4] = 1.0
    return clip


def test_motion_inputs_are_the_three_colourless_sources():
    assert MOTION_INPUTS == ("grey_diff", "farneback", "flow_files")
    assert MOTION_CHANNELS == {"grey_diff": 1, "farneback": 3, "flow_files": 3}


def test_static_clip_has_no_motion():
    still = torch.rand(2, 3, 1, 16, 16).expand(-1, -1, 5, -1, -1)  # (B, 3, T, H, W)
    diff = grey_differences(still)
    assert diff.shape == (2, 1, 5, 16, 16)
    assert diff.abs().max() == 0


def test_moving_bar_differs_exactly_where_it_moves():
    clip = moving_bar()
    diff = grey_differences(clip)
    assert diff[:, :, 0].abs().max() == 0  # no predecessor
    for i in range(1, clip.shape[2]):
        moved = clip[0, 0, i] != clip[0, 0, i - 1]  # (H, W)
        assert diff[0, 0, i][moved].abs().min() > 0
        assert diff[0, 0, i][~moved].abs().max() == 0


def test_each_clip_is_scaled_to_unit_root_mean_square():
    clips = torch.cat([0.1 * moving_bar(), moving_bar()])  # (2, 3, T, H, W), different contrast
    diff = grey_differences(clips)
    torch.testing.assert_close(diff.square().mean(dim=(1, 2, 3, 4)).sqrt(), torch.ones(2))
    torch.testing.assert_close(diff[0], diff[1])


def test_an_isoluminant_colour_swap_leaves_the_grey_differences_unchanged():
    red, green = torch.tensor([0.9, 0.2, 0.3]), torch.tensor([0.0, 0.0, 0.0])
    luma = torch.tensor([0.299, 0.587, 0.114])
    green[1] = (luma @ red - 0.114 * 0.5) / 0.587  # green with the red's luma
    green[2] = 0.5
    bar = moving_bar()  # (1, 3, T, H, W), white on black
    as_red, as_green = bar * red.view(1, 3, 1, 1, 1), bar * green.view(1, 3, 1, 1, 1)
    assert not torch.allclose(as_red, as_green)
    torch.testing.assert_close(grey_differences(as_red), grey_differences(as_green))


def textured_frames(shift: int, t: int = 3, size: int = 96) -> np.ndarray:
    """(T, size, size, 3) uint8: a smooth random texture moving right by `shift` pixels a frame."""
    rng = np.random.default_rng(0)
    big = cv2.GaussianBlur(rng.random((size, size + shift * t)).astype(np.float32), (0, 0), 2.0)
    big = (255 * (big - big.min()) / (big.max() - big.min())).astype(np.uint8)
    # frame i shows the texture shifted right by i * shift
    frames = [big[:, shift * (t - i) : shift * (t - i) + size] for i in range(t)]
    return np.stack([np.repeat(f[..., None], 3, axis=-1) for f in frames])


def test_farneback_recovers_a_horizontal_shift():
    flow = farneback_flow(textured_frames(shift=2))
    assert flow.shape == (3, 96, 96, 3) and flow.dtype == np.float32
    assert not flow[0].any()
    inner = flow[1:, 16:-16, 16:-16]  # (T-1, h, w, 3), away from the borders
    assert abs(inner[..., 0].mean() - 2.0) < 0.5
    assert abs(inner[..., 1].mean()) < 0.5
    np.testing.assert_allclose(flow[..., 2], np.hypot(flow[..., 0], flow[..., 1]), rtol=1e-6)


def test_load_flow_file_picks_frames_and_appends_the_magnitude(tmp_path):
    flow = np.random.default_rng(0).normal(size=(10, 4, 5, 2)).astype(np.float16)
    path = tmp_path / "video.npy"
    np.save(path, flow)
    got = load_flow_file(path, np.array([7, 2, 2]))
    assert got.shape == (3, 4, 5, 3) and got.dtype == np.float32
    np.testing.assert_array_equal(got[..., :2], flow[[7, 2, 2]].astype(np.float32))
    np.testing.assert_allclose(got[..., 2], np.hypot(got[..., 0], got[..., 1]))


def test_load_flow_file_keeps_three_channels(tmp_path):
    flow = np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32)
    np.save(tmp_path / "three.npy", flow)
    np.testing.assert_array_equal(load_flow_file(tmp_path / "three.npy", [0, 3]), flow[[0, 3]])


@pytest.mark.parametrize(
    "content, problem",
    [
        (None, "not found"),
        (b"not an array", "not a readable"),
        (np.zeros((10, 4, 4)), "expected float flow"),
        (np.zeros((10, 4, 4, 4)), "expected float flow"),
        (np.zeros((10, 4, 4, 2), dtype=np.int16), "expected float flow"),
        (np.zeros((3, 4, 4, 2)), "has 3 frames"),
    ],
)
def test_load_flow_file_errors_name_the_file_and_the_problem(tmp_path, content, problem):
    path = tmp_path / "flow.npy"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        np.save(path, content)
    with pytest.raises(InputFileError, match=problem) as error:
        load_flow_file(path, np.arange(0, 8, 2))
    assert error.value.path == path
