"""Batch augmentation: one set of parameters per clip, shared by its frames; each op against its definition."""

import math

import pytest
import torch

from hiermovie.extract.augment import (
    color_jitter,
    crop_view,
    cvrl_view,
    gaussian_blur,
    normalize,
    random_flip,
    random_grayscale,
    random_resized_crop,
    resize_flow,
    solarize,
    to_float_clips,
)

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")),
]


def seeded(seed: int = 0, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def smooth_texture(b: int, t: int, size: int, seed: int = 0) -> torch.Tensor:
    """Random clips (B, 3, T, size, size) in [0, 1] with detail at every scale."""
    noise = torch.rand(b, 3 * t, size // 4, size // 4, generator=seeded(seed))
    coarse = torch.nn.functional.interpolate(noise, size=size, mode="bilinear", align_corners=False)
    fine = torch.rand(b, 3 * t, size, size, generator=seeded(seed + 1))
    return (0.7 * coarse + 0.3 * fine).view(b, 3, t, size, size)


@pytest.fixture
def clips() -> torch.Tensor:
    return smooth_texture(8, 8, 64)  # (B, 3, T, H, W)


@pytest.fixture
def still_clips() -> torch.Tensor:
    """8 clips whose 8 frames are all the same image."""
    return smooth_texture(8, 1, 64).expand(-1, -1, 8, -1, -1).contiguous()  # (B, 3, T, H, W)


@pytest.mark.parametrize("view", [1, 2])
def test_cvrl_view_is_temporally_consistent(still_clips, view):
    out = cvrl_view(still_clips, 48, view, generator=seeded())
    torch.testing.assert_close(out, out[:, :, :1].expand_as(out), atol=1e-6, rtol=0)


@pytest.mark.parametrize("view", [1, 2])
def test_cvrl_view_gives_each_clip_its_own_parameters(view):
    same = smooth_texture(1, 4, 64).expand(8, -1, -1, -1, -1)  # 8 copies of one clip
    out = cvrl_view(same, 48, view, generator=seeded())
    for i in range(8):
        for j in range(i):
            assert (out[i] - out[j]).abs().max() > 1e-3


@pytest.mark.parametrize("device", DEVICES)
def test_every_op_keeps_dtype_and_device_and_stays_in_unit_range(device):
    clips = smooth_texture(4, 3, 64).to(device)
    g = seeded(device=device)
    outputs = {
        "crop": random_resized_crop(clips, 32, generator=g),
        "flip": random_flip(clips, generator=g),
        "jitter": color_jitter(clips, p=1.0, generator=g),
        "grey": random_grayscale(clips, p=1.0, generator=g),
        "blur": gaussian_blur(clips, p=1.0, generator=g),
        "solarize": solarize(clips, p=1.0, generator=g),
        "view1": cvrl_view(clips, 32, 1, generator=g),
        "view2": cvrl_view(clips, 32, 2, generator=g),
    }
    for name, out in outputs.items():
        size = 32 if name in ("crop", "view1", "view2") else 64
        assert out.shape == (4, 3, 3, size, size), name
        assert out.dtype == torch.float32 and out.device == clips.device, name
        assert out.min() >= 0 and out.max() <= 1, name


def test_full_box_crop_is_the_identity(clips):
    out = random_resized_crop(clips, 64, scale=(1.0, 1.0), ratio=(1.0, 1.0), generator=seeded())
    torch.testing.assert_close(out, clips, atol=1e-5, rtol=0)


def test_crop_of_a_ramp_is_a_ramp_over_a_box_inside_the_image():
    ramp = torch.linspace(0, 1, 64).expand(4, 3, 2, 64, 64)  # brightness grows with x
    out = random_resized_crop(ramp, 32, scale=(0.3, 0.3), ratio=(1.0, 1.0), generator=seeded())
    steps = out[..., 1:] - out[..., :-1]  # (B, 3, T, 32, 31)
    assert (steps > 0).all()
    # a 0.3-area square spans sqrt(0.3) of the width: 31 output steps cover about sqrt(0.3) * 31/32
    width = out[..., -1] - out[..., 0]  # (B, 3, T, 32)
    torch.testing.assert_close(width, torch.full_like(width, 0.3**0.5 * 31 / 32), atol=0.02, rtol=0)


def test_flip_reverses_width(clips):
    torch.testing.assert_close(random_flip(clips, p=1.0, generator=seeded()), clips.flip(-1))
    torch.testing.assert_close(random_flip(clips, p=0.0, generator=seeded()), clips)


def test_grayscale_has_equal_channels_with_luma_weights(clips):
    out = random_grayscale(clips, p=1.0, generator=seeded())
    luma = 0.299 * clips[:, 0] + 0.587 * clips[:, 1] + 0.114 * clips[:, 2]  # (B, T, H, W)
    for channel in range(3):
        torch.testing.assert_close(out[:, channel], luma)


def test_blur_with_tiny_sigma_is_the_identity(clips):
    out = gaussian_blur(clips, p=1.0, sigma=(0.1, 0.1), generator=seeded())
    torch.testing.assert_close(out, clips, atol=1e-6, rtol=0)


def test_blur_removes_high_frequencies_and_keeps_the_mean(clips):
    out = gaussian_blur(clips, p=1.0, sigma=(2.0, 2.0), generator=seeded())

    def detail(x: torch.Tensor) -> torch.Tensor:
        return (x[..., 1:] - x[..., :-1]).square().mean() + (x[..., 1:, :] - x[..., :-1, :]).square().mean()

    assert detail(out) < 0.2 * detail(clips)
    torch.testing.assert_close(out.mean(), clips.mean(), atol=1e-3, rtol=0)


def test_blur_probability_zero_is_the_identity(clips):
    torch.testing.assert_close(gaussian_blur(clips, p=0.0, generator=seeded()), clips)


def test_jitter_with_zero_strength_is_the_identity(clips):
    out = color_jitter(clips, brightness=0, contrast=0, saturation=0, hue=0, p=1.0, generator=seeded())
    torch.testing.assert_close(out, clips, atol=1e-6, rtol=0)


def test_jitter_probability_zero_is_the_identity(clips):
    torch.testing.assert_close(color_jitter(clips, p=0.0, generator=seeded()), clips)


def test_brightness_is_one_factor_per_clip():
    clips = 0.1 + 0.4 * smooth_texture(8, 4, 32)  # dark enough that no factor in [0.2, 1.8] clamps
    out = color_jitter(clips, brightness=0.8, contrast=0, saturation=0, hue=0, p=1.0, generator=seeded())
    factor = out / clips  # (B, 3, T, H, W)
    flat = factor.flatten(1)
    torch.testing.assert_close(flat, flat[:, :1].expand_as(flat), atol=1e-4, rtol=0)
    assert flat[:, 0].min() >= 0.2 and flat[:, 0].max() <= 1.8
    assert flat[:, 0].std() > 0.1  # clips differ


def test_hue_and_saturation_leave_grey_alone():
    grey = smooth_texture(4, 2, 32)[:, :1].expand(-1, 3, -1, -1, -1)  # (B, 3, T, H, W), equal channels
    out = color_jitter(grey, brightness=0, contrast=0, saturation=0.8, hue=0.5, p=1.0, generator=seeded())
    torch.testing.assert_close(out, grey, atol=1e-5, rtol=0)


def test_hue_rotation_keeps_luma_and_changes_colour(clips):
    out = color_jitter(clips, brightness=0, contrast=0, saturation=0, hue=0.5, p=1.0, generator=seeded())
    luma = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1, 1)
    luma_change = ((out - clips) * luma).sum(1)  # (B, T, H, W)
    unclamped = ((out > 0) & (out < 1)).all(dim=1)  # (B, T, H, W); clamping may change the luma
    assert unclamped.float().mean() > 0.5
    assert luma_change[unclamped].abs().max() < 1e-5
    assert (out - clips).abs().mean() > 0.01


def test_solarize_inverts_values_above_the_threshold(clips):
    out = solarize(clips, p=1.0, generator=seeded())
    torch.testing.assert_close(out, torch.where(clips >= 0.5, 1 - clips, clips))
    torch.testing.assert_close(solarize(clips, p=0.0, generator=seeded()), clips)


def test_same_seed_reproduces_a_batch_and_another_seed_does_not(clips):
    first = cvrl_view(clips, 48, 2, generator=seeded(3))
    torch.testing.assert_close(cvrl_view(clips, 48, 2, generator=seeded(3)), first, atol=0, rtol=0)
    assert (cvrl_view(clips, 48, 2, generator=seeded(4)) - first).abs().max() > 1e-3


def test_unknown_view_is_refused(clips):
    with pytest.raises(ValueError, match="view"):
        cvrl_view(clips, 32, 3)


def test_to_float_clips_and_normalize():
    frames = torch.randint(0, 256, (2, 4, 8, 6, 3), dtype=torch.uint8, generator=seeded())  # (B, T, H, W, 3)
    clips = to_float_clips(frames)
    assert clips.shape == (2, 3, 4, 8, 6) and clips.dtype == torch.float32 and clips.is_contiguous()
    torch.testing.assert_close(clips[1, 2, 3], frames[1, 3, :, :, 2].float() / 255)
    torch.testing.assert_close(normalize(clips), (clips - 0.45) / 0.225)
    per_channel = normalize(clips, mean=(0.4, 0.5, 0.6), std=(0.1, 0.2, 0.3))
    torch.testing.assert_close(per_channel[:, 2], (clips[:, 2] - 0.6) / 0.3)
    with pytest.raises(ValueError, match="uint8"):
        to_float_clips(frames.float())


def test_whole_frame_crop_view_draws_nothing_and_partial_area_crops(clips):
    generator = seeded()
    state = generator.get_state()
    assert crop_view(clips, 64, (1.0, 1.0), generator) is clips
    assert torch.equal(generator.get_state(), state)  # no parameters drawn: later views are unchanged
    cropped = crop_view(clips, 32, (0.3, 0.3), seeded())
    assert cropped.shape == (8, 3, 8, 32, 32)
    torch.testing.assert_close(cropped, random_resized_crop(clips, 32, scale=(0.3, 0.3), generator=seeded()))


def test_cvrl_view_without_crop_and_flip_keeps_the_geometry():
    ramp = torch.linspace(0, 1, 64).expand(8, 3, 4, 64, 64).contiguous()  # brightness grows with x
    out = cvrl_view(ramp, 64, 1, seeded(), color_strength=0.0, crop_area=(1.0, 1.0), flip=False)
    grey = out.mean(1)  # (B, T, H, W): view 1 never solarizes, so only the blur touches the ramp
    assert (grey[..., -1] - grey[..., 0] > 0.8).all()  # every clip still rises from the left edge to the right


def uniform_flow(dx: float, dy: float, b: int = 4, size: int = 32) -> torch.Tensor:
    """(B, 3, T, size, size) flow clips moving (dx, dy) pixels a frame everywhere, magnitude in channel 2."""
    flow = torch.zeros(b, 3, 2, size, size)
    flow[:, 0], flow[:, 1], flow[:, 2] = dx, dy, math.hypot(dx, dy)
    return flow


def test_a_mirrored_flow_clip_has_dx_negated():
    flow = uniform_flow(2.0, 1.0)
    mirrored = random_flip(flow, p=1.0, flow=True)
    torch.testing.assert_close(mirrored[:, 0], -flow[:, 0])
    torch.testing.assert_close(mirrored[:, 1:], flow[:, 1:])
    torch.testing.assert_close(random_flip(flow, p=0.0, flow=True), flow)


def test_a_cropped_flow_clip_has_its_vectors_scaled_by_the_resize():
    """A box of a quarter of the image resized to the whole size: dx and dy grow by size / box side."""
    flow = uniform_flow(2.0, 1.0)
    generator = torch.Generator().manual_seed(0)
    cropped = crop_view(flow, 32, (0.25, 0.25), generator, flow=True)  # (B, 3, T, 32, 32)
    x_gain, y_gain = cropped[:, 0] / 2.0, cropped[:, 1] / 1.0  # (B, T, H, W) each
    torch.testing.assert_close(x_gain * y_gain, torch.full_like(x_gain, 4.0))  # area 1/4: gains multiply to 4
    assert (x_gain > 1.4).all() and (y_gain > 1.4).all()  # aspect in (0.5, 2): each side at most 1/sqrt(2)
    torch.testing.assert_close(cropped[:, 2], torch.hypot(cropped[:, 0], cropped[:, 1]))
    assert torch.equal(crop_view(flow, 32, (1.0, 1.0), generator, flow=True), flow)  # whole frame: unchanged


def test_resize_flow_scales_the_vectors_with_the_image():
    resized = resize_flow(uniform_flow(2.0, 1.0, size=16), (32, 48))  # (B, 3, T, 32, 48)
    assert resized.shape[-2:] == (32, 48)
    torch.testing.assert_close(resized[:, 0], torch.full_like(resized[:, 0], 6.0))  # 2 * 48 / 16
    torch.testing.assert_close(resized[:, 1], torch.full_like(resized[:, 1], 2.0))  # 1 * 32 / 16
