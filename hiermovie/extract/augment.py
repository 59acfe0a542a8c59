"""CVRL's temporally consistent augmentation, run on the batch: one set of random parameters per clip.

Every function takes float clips (B, 3, T, H, W) in [0, 1] and returns a new tensor. Each clip draws its
own parameters (crop box, flip, jitter factors, blur sigma, ...) and all its frames share them, as in
CVRL (`video_ssl_input.py::_process_image`, `video_ssl_preprocess_ops.py`), which jitters and blurs the
frames of one clip reshaped into one big image. Randomness comes only from `generator` (on the clips'
device), so a seeded generator reproduces a batch, on CPU or CUDA alike.

`cvrl_view` composes them as CVRL's released code does, BYOL-style asymmetric: Gaussian blur with
p = 1.0 on view 1 and p = 0.1 on view 2, solarisation with p = 0.2 on view 2 only. The paper's text
may say blur with p = 0.5; we follow the code.

Two choices differ from the TF ops: saturation blends each pixel towards its grey (as torchvision; TF
scales S in HSV), and hue rotates the chroma plane of YIQ (TF shifts H in HSV). Blur pads by
reflection (TF: zeros).
"""

import math

import torch
import torch.nn.functional as F

# ITU-R 601 luma weights
_LUMA = (0.299, 0.587, 0.114)
# FCC NTSC RGB -> YIQ; its Y row is the luma and its I, Q rows sum to 0, so grey has no chroma
_RGB_TO_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float64
)
# Hue rotation by θ in RGB: GREY + cos θ (I - GREY) + sin θ HUE_SIN, GREY = 1 lumaᵀ = YIQ⁻¹ diag(1,0,0) YIQ
_GREY = torch.ones(3, 1, dtype=torch.float64) * torch.tensor(_LUMA, dtype=torch.float64)  # (3, 3)
_HUE_SIN = (
    torch.linalg.inv(_RGB_TO_YIQ)[:, 1:]
    @ torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)
    @ _RGB_TO_YIQ[1:]
)  # (3, 3)


def _uniform(n: int, low: float, high: float, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """(n,) draws from U[low, high) on `like`'s device and dtype."""
    u = torch.rand(n, generator=generator, device=like.device, dtype=like.dtype)  # (n,)
    return low + (high - low) * u


def _coin(n: int, p: float, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """(n,) bools, each True with probability p."""
    return torch.rand(n, generator=generator, device=like.device) < p


def _per_clip(values: torch.Tensor) -> torch.Tensor:
    """(B,) -> (B, 1, 1, 1, 1), to broadcast over (B, C, T, H, W)."""
    return values.view(-1, 1, 1, 1, 1)


def _constant(matrix: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return matrix.to(device=like.device, dtype=like.dtype)


def draw_boxes(
    clips: torch.Tensor,
    scale: tuple[float, float] = (0.3, 1.0),
    ratio: tuple[float, float] = (0.5, 2.0),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One crop box per clip: area fraction in `scale`, log-uniform aspect w/h in `ratio`, clamped to the image.

    Returns (B, 4): width and height as fractions of the image side, centre x and y in `affine_grid`'s
    [-1, 1] coordinates.
    """
    b, _, _, h, w = clips.shape
    area = _uniform(b, *scale, clips, generator)  # (B,)
    aspect = torch.exp(_uniform(b, math.log(ratio[0]), math.log(ratio[1]), clips, generator))  # (B,)
    # box size as a fraction of the image side: box_w * box_h * h * w = area * h * w, box_w * w / (box_h * h) = aspect
    box_w = torch.sqrt(area * aspect * h / w).clamp(max=1.0)  # (B,)
    box_h = torch.sqrt(area / aspect * w / h).clamp(max=1.0)  # (B,)
    # box centre, keeping the box inside the image
    centre_x = (2 * _uniform(b, 0.0, 1.0, clips, generator) - 1) * (1 - box_w)  # (B,)
    centre_y = (2 * _uniform(b, 0.0, 1.0, clips, generator) - 1) * (1 - box_h)  # (B,)
    return torch.stack([box_w, box_h, centre_x, centre_y], dim=1)  # (B, 4)


def crop_boxes(clips: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Each clip's box (`draw_boxes`) resized to size x size: one bilinear `grid_sample` over all frames."""
    b, c, t, h, w = clips.shape
    box_w, box_h, centre_x, centre_y = boxes.unbind(1)  # (B,) each
    zero = torch.zeros_like(box_w)
    theta = torch.stack([box_w, zero, centre_x, zero, box_h, centre_y], dim=1).view(b, 2, 3)  # (B, 2, 3)
    grid = F.affine_grid(theta, [b, c * t, size, size], align_corners=False)  # (B, size, size, 2)
    frames = clips.reshape(b, c * t, h, w)  # (B, C*T, H, W)
    out = F.grid_sample(frames, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.view(b, c, t, size, size)  # (B, C, T, size, size)


def random_resized_crop(
    clips: torch.Tensor,
    size: int,
    scale: tuple[float, float] = (0.3, 1.0),
    ratio: tuple[float, float] = (0.5, 2.0),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """One box per clip (`draw_boxes`), resized to `size`. Shape: (B, 3, T, size, size).

    CVRL's `random_crop_resize(..., aspect_ratio_range=(0.5, 2), area_range=(0.3, 1))`.
    """
    return crop_boxes(clips, draw_boxes(clips, scale, ratio, generator), size)


def crop_view(
    clips: torch.Tensor,
    size: int,
    area: tuple[float, float],
    generator: torch.Generator | None = None,
    flow: bool = False,
) -> torch.Tensor:
    """`random_resized_crop` with the area range `area`; `area` (1, 1) keeps the whole frame (no draw).

    Shape: (B, C, T, size, size); frames are decoded at `size`, so the whole frame needs no resampling.
    `flow` clips (dx, dy, magnitude in pixels) have their vectors rescaled with the box: a box w pixels
    wide resized to `size` multiplies dx by size / w (and dy likewise), and the magnitude is recomputed.
    """
    if area[0] >= 1.0 and clips.shape[-1] == clips.shape[-2] == size:
        return clips
    boxes = draw_boxes(clips, area, generator=generator)  # (B, 4)
    out = crop_boxes(clips, boxes, size)  # (B, C, T, size, size)
    if not flow:
        return out
    h, w = clips.shape[-2:]
    return _flow_scaled(out, size / (boxes[:, 0] * w), size / (boxes[:, 1] * h))


def _flow_scaled(flow: torch.Tensor, x_factor: torch.Tensor | float, y_factor: torch.Tensor | float) -> torch.Tensor:
    """Flow (B, 3, T, H, W) with dx times `x_factor`, dy times `y_factor` (per clip or scalars), magnitude anew."""
    x_factor, y_factor = torch.as_tensor(x_factor, dtype=flow.dtype), torch.as_tensor(y_factor, dtype=flow.dtype)
    dx = flow[:, 0] * x_factor.to(flow.device).reshape(-1, 1, 1, 1)  # (B, T, H, W)
    dy = flow[:, 1] * y_factor.to(flow.device).reshape(-1, 1, 1, 1)  # (B, T, H, W)
    return torch.stack([dx, dy, torch.hypot(dx, dy)], dim=1)  # (B, 3, T, H, W)


def resize_flow(flow: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Flow (B, 3, T, h, w) resampled to (H, W) = `size`, its vectors scaled by W / w and H / h."""
    h, w = flow.shape[-2:]
    resized = F.interpolate(flow, size=(flow.shape[2], *size), mode="trilinear", align_corners=False)
    return _flow_scaled(resized, size[1] / w, size[0] / h)


def random_flip(
    clips: torch.Tensor, p: float = 0.5, generator: torch.Generator | None = None, flow: bool = False
) -> torch.Tensor:
    """Mirror each clip left-right with probability p; a mirrored `flow` clip (dx, dy, ...) also has dx negated."""
    flip = _coin(clips.shape[0], p, clips, generator)  # (B,)
    mirrored = clips.flip(-1)  # (B, C, T, H, W)
    if flow:
        mirrored = torch.cat([-mirrored[:, :1], mirrored[:, 1:]], dim=1)
    return torch.where(_per_clip(flip), mirrored, clips)


def _grey_mean(clips: torch.Tensor) -> torch.Tensor:
    """Mean luma of each clip over all its frames and pixels. Shape: (B,)."""
    luma = torch.tensor(_LUMA, device=clips.device, dtype=clips.dtype)  # (3,)
    return clips.mean(dim=(2, 3, 4)) @ luma  # (B, 3) @ (3,)


def color_jitter(
    clips: torch.Tensor,
    brightness: float = 0.8,
    contrast: float = 0.8,
    saturation: float = 0.8,
    hue: float = 0.2,
    p: float = 0.8,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """SimCLR colour jitter (CVRL strength 1.0) with probability p per clip, the four ops in random order.

    CVRL's `color_jitter_rand`: brightness x·b, b ~ U[max(1 - brightness, 0), 1 + brightness]; contrast
    around the clip's mean grey, c ~ U[1 ± contrast]; saturation towards each pixel's grey, s ~ U[1 ±
    saturation]; hue rotated by θ ~ U[± hue·360°]; clamped to [0, 1] after each op. Every op is a per-clip
    3x3 colour matrix (contrast adds an offset), so each of the four steps is one batched einsum.
    """
    b = clips.shape[0]
    eye = torch.eye(3, device=clips.device, dtype=clips.dtype)  # (3, 3)
    grey, hue_sin = _constant(_GREY, clips), _constant(_HUE_SIN, clips)  # (3, 3), (3, 3)
    bright = _uniform(b, max(1 - brightness, 0.0), 1 + brightness, clips, generator).view(b, 1, 1)  # (B, 1, 1)
    contr = _uniform(b, 1 - contrast, 1 + contrast, clips, generator)  # (B,)
    sat = _uniform(b, 1 - saturation, 1 + saturation, clips, generator).view(b, 1, 1)  # (B, 1, 1)
    angle = _uniform(b, -2 * math.pi * hue, 2 * math.pi * hue, clips, generator).view(b, 1, 1)  # (B, 1, 1)
    matrices = torch.stack(
        [
            bright * eye,  # brightness
            contr.view(b, 1, 1) * eye,  # contrast, plus the offset below
            grey + sat * (eye - grey),  # saturation
            grey + torch.cos(angle) * (eye - grey) + torch.sin(angle) * hue_sin,  # hue
        ],
        dim=1,
    )  # (B, 4, 3, 3)
    order = torch.argsort(torch.rand(b, 4, generator=generator, device=clips.device), dim=1)  # (B, 4)
    apply = _coin(b, p, clips, generator)  # (B,)
    rows = torch.arange(b, device=clips.device)  # (B,)
    out = clips
    for step in range(4):
        op = order[:, step]  # (B,)
        offset = torch.where(op == 1, (1 - contr) * _grey_mean(out), 0.0)  # (B,)
        out = torch.einsum("bij,bjthw->bithw", matrices[rows, op], out) + _per_clip(offset)  # (B, 3, T, H, W)
        out = out.clamp(0.0, 1.0)
    return torch.where(_per_clip(apply), out, clips)


def random_grayscale(clips: torch.Tensor, p: float = 0.2, generator: torch.Generator | None = None) -> torch.Tensor:
    """Replace each clip by its luma on all three channels with probability p (CVRL `to_grayscale`)."""
    luma = torch.tensor(_LUMA, device=clips.device, dtype=clips.dtype)  # (3,)
    grey = torch.einsum("c,bcthw->bthw", luma, clips).unsqueeze(1).expand_as(clips)  # (B, 3, T, H, W)
    return torch.where(_per_clip(_coin(clips.shape[0], p, clips, generator)), grey, clips)


def gaussian_blur(
    clips: torch.Tensor, p: float, sigma: tuple[float, float] = (0.1, 2.0), generator: torch.Generator | None = None
) -> torch.Tensor:
    """Separable Gaussian blur with probability p per clip, sigma ~ U[sigma], reflect padding.

    Kernel size as CVRL's `random_blur`: H // 10 made odd (radius (H // 10) // 2), so 23 taps at 224.
    A clip left unblurred gets the delta kernel. Two grouped conv2d over (1, B*C*T, H, W).
    """
    b, c, t, h, w = clips.shape
    radius = h // 10 // 2
    taps = torch.arange(-radius, radius + 1, device=clips.device, dtype=clips.dtype)  # (k,)
    sig = _uniform(b, *sigma, clips, generator).view(b, 1)  # (B, 1)
    kernel = torch.exp(-(taps**2) / (2 * sig**2))  # (B, k)
    kernel = kernel / kernel.sum(dim=1, keepdim=True)
    blur = _coin(b, p, clips, generator).view(b, 1)  # (B, 1)
    kernel = torch.where(blur, kernel, (taps == 0).to(clips.dtype))  # (B, k)
    weight = kernel.repeat_interleave(c * t, dim=0)  # (B*C*T, k)
    k = 2 * radius + 1
    frames = clips.reshape(1, b * c * t, h, w)  # (1, B*C*T, H, W)
    frames = F.conv2d(F.pad(frames, (radius, radius, 0, 0), mode="reflect"), weight.view(-1, 1, 1, k), groups=b * c * t)
    frames = F.conv2d(F.pad(frames, (0, 0, radius, radius), mode="reflect"), weight.view(-1, 1, k, 1), groups=b * c * t)
    return frames.view(b, c, t, h, w).clamp(0.0, 1.0)  # (B, C, T, H, W); rounding may pass 1 (CVRL clips too)


def solarize(
    clips: torch.Tensor, p: float, threshold: float = 0.5, generator: torch.Generator | None = None
) -> torch.Tensor:
    """With probability p per clip, invert every value at or above `threshold` (CVRL `random_solarization`)."""
    flip = _per_clip(_coin(clips.shape[0], p, clips, generator))  # (B, 1, 1, 1, 1)
    return torch.where(flip & (clips >= threshold), 1 - clips, clips)


# (blur p, solarize p) of CVRL's two views (`video_ssl_input.py::_process_image`)
_VIEW_PROBS = {1: (1.0, 0.0), 2: (0.1, 0.2)}


def cvrl_view(
    clips: torch.Tensor,
    size: int,
    view: int,
    generator: torch.Generator | None = None,
    color_strength: float = 1.0,
    crop_area: tuple[float, float] = (0.3, 1.0),
    flip: bool = True,
) -> torch.Tensor:
    """One CVRL view: crop-resize, flip, jitter (p 0.8), grey (p 0.2), blur, solarize. Shape: (B, 3, T, size, size).

    `view` 1 blurs every clip and never solarizes; view 2 blurs with p 0.1 and solarizes with p 0.2.
    `color_strength` scales the jitter (SimCLR's s; CVRL uses 1.0: brightness, contrast, saturation 0.8, hue 0.2);
    `crop_area` is the crop's area range (CVRL: 0.3 to 1); `flip` False leaves out the flips.
    """
    if view not in _VIEW_PROBS:
        raise ValueError(f"CVRL view must be 1 or 2, got {view}")
    blur_p, solarize_p = _VIEW_PROBS[view]
    s = color_strength
    out = crop_view(clips, size, crop_area, generator)
    out = random_flip(out, p=0.5 if flip else 0.0, generator=generator)
    out = color_jitter(out, 0.8 * s, 0.8 * s, 0.8 * s, 0.2 * s, p=0.8, generator=generator)
    out = random_grayscale(out, p=0.2, generator=generator)
    out = gaussian_blur(out, p=blur_p, generator=generator)
    return solarize(out, p=solarize_p, generator=generator)


def normalize(
    clips: torch.Tensor, mean: float | tuple[float, ...] = 0.45, std: float | tuple[float, ...] = 0.225
) -> torch.Tensor:
    """(clips - mean) / std, per channel for tuples; SlowFast's defaults 0.45 and 0.225."""
    mean_t = torch.as_tensor(mean, device=clips.device, dtype=clips.dtype).view(-1, 1, 1, 1)  # (C or 1, 1, 1, 1)
    std_t = torch.as_tensor(std, device=clips.device, dtype=clips.dtype).view(-1, 1, 1, 1)  # (C or 1, 1, 1, 1)
    return (clips - mean_t) / std_t


def to_float_clips(frames: torch.Tensor) -> torch.Tensor:
    """uint8 frames (B, T, H, W, 3) -> float32 clips (B, 3, T, H, W) in [0, 1], on the same device."""
    if frames.dtype != torch.uint8 or frames.ndim != 5 or frames.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames (B, T, H, W, 3), got {frames.dtype} {tuple(frames.shape)}")
    return frames.permute(0, 4, 1, 2, 3).contiguous().float().div_(255)  # (B, 3, T, H, W)
