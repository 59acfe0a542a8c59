"""MoDist's motion input: a colourless clip with the RGB clip's (T, H, W), from one of `MOTION_INPUTS`.

MoDist's released code (`amazon-science/self-supervised-maclr`) reads a precomputed 3-channel "flow" clip
(`DATA.FLOW_PATH_PREFIX`, mean 0, std 1) without saying which estimator made it. Flow carries no colour, so
the cross-modal terms cannot be matched by appearance. We offer three colourless sources:
- "grey_diff": luma differences of consecutive frames of the clip before colour jitter, 1 channel, each clip
  scaled to unit root mean square (`grey_differences`), computed on the batch;
- "farneback": OpenCV Farneback flow of grey frames, computed at decode time, channels (dx, dy, magnitude);
- "flow_files": precomputed flow from any estimator as `.npy`, 2 channels (dx, dy) or 3 (`load_flow_file`).
The motion at frame t is always from frame t - 1 to t; the first frame, with no predecessor, gets zeros.
"""

from pathlib import Path

import cv2
import numpy as np
import torch

from hiermovie.errors import InputFileError

# input channels of the motion network for each source
MOTION_CHANNELS = {"grey_diff": 1, "farneback": 3, "flow_files": 3}
MOTION_INPUTS = tuple(MOTION_CHANNELS)
_LUMA = (0.299, 0.587, 0.114)  # ITU-R 601


def grey_differences(clips: torch.Tensor) -> torch.Tensor:
    """Luma x[t] - x[t-1], zeros at t = 0, each clip divided by its root mean square (MoDist feeds flow
    with mean 0, std 1); a static clip stays zero. Shape: (B, 3, T, H, W) -> (B, 1, T, H, W)."""
    luma = torch.tensor(_LUMA, device=clips.device, dtype=clips.dtype)  # (3,)
    grey = torch.einsum("c,bcthw->bthw", luma, clips).unsqueeze(1)  # (B, 1, T, H, W)
    diff = torch.zeros_like(grey)  # (B, 1, T, H, W)
    diff[:, :, 1:] = grey[:, :, 1:] - grey[:, :, :-1]
    rms = diff.square().mean(dim=(1, 2, 3, 4), keepdim=True).sqrt()  # (B, 1, 1, 1, 1)
    return diff / rms.clamp(min=1e-6)


def farneback_flow(frames: np.ndarray) -> np.ndarray:
    """Farneback flow of consecutive grey frames. Shape: (T, H, W, 3) uint8 RGB -> (T, H, W, 3) float32.

    Channels (dx, dy, magnitude) in pixels; flow[t] maps frame t - 1 to frame t, flow[0] is zero.
    OpenCV's usual parameters: pyr_scale 0.5, levels 3, winsize 15, iterations 3, poly_n 5, poly_sigma 1.2.
    """
    grey = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in frames]
    flow = np.zeros((*frames.shape[:3], 3), np.float32)  # (T, H, W, 3)
    for t in range(1, len(grey)):
        flow[t, ..., :2] = cv2.calcOpticalFlowFarneback(grey[t - 1], grey[t], None, 0.5, 3, 15, 3, 5, 1.2, 0)
    flow[..., 2] = np.hypot(flow[..., 0], flow[..., 1])
    return flow


def load_flow_file(path: str | Path, indices: np.ndarray) -> np.ndarray:
    """Frames `indices` of a precomputed flow `.npy` (T_total, H, W, 2 or 3). Shape: (len(indices), H, W, 3) float32.

    Two channels (dx, dy) get the magnitude appended. Raises `InputFileError` for a missing or unreadable
    file, a wrong shape or dtype, and indices past its last frame.
    """
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "flow file not found")
    try:
        flow = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as error:
        raise InputFileError(path, f"not a readable .npy array ({error})") from error
    if flow.ndim != 4 or flow.shape[-1] not in (2, 3) or not np.issubdtype(flow.dtype, np.floating):
        raise InputFileError(path, f"expected float flow (T, H, W, 2 or 3), got {flow.dtype} {flow.shape}")
    indices = np.asarray(indices, dtype=np.int64)
    if indices.size and (indices.min() < 0 or indices.max() >= len(flow)):
        raise InputFileError(path, f"has {len(flow)} frames, asked for frames {indices.min()}..{indices.max()}")
    picked = np.asarray(flow[indices], dtype=np.float32)  # (N, H, W, 2 or 3)
    if picked.shape[-1] == 2:
        magnitude = np.hypot(picked[..., 0], picked[..., 1])[..., None]  # (N, H, W, 1)
        picked = np.concatenate([picked, magnitude], axis=-1)
    return picked
