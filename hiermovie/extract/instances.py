"""Instance features for the Object Transformer (LVU): the backbone's res5 map of the event window
that contains second t, averaged over each instance box of that second (ROI-align style average).

Instance boxes come from `{video id}.json` files in the format the benchmark writes (docs/benchmark.md,
"Instance tracks"): {"instances": [{"sec", "track_id", "shot_id", "box": [x1, y1, x2, y2]}, ...]},
boxes normalised to [0, 1].
"""

import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from hiermovie.errors import InputFileError

SAMPLES = 4  # sampling points per box side (ROI align with a single output bin)


def read_instances(path: Path) -> dict[str, np.ndarray]:
    """An instance-track file as arrays: sec (M,), track_id (M,), shot_id (M,), box (M, 4)."""
    try:
        records = json.loads(Path(path).read_text())["instances"]
        return {
            "sec": np.array([r["sec"] for r in records], np.int32),
            "track_id": np.array([r["track_id"] for r in records], np.int32),
            "shot_id": np.array([r["shot_id"] for r in records], np.int32),
            "box": np.array([r["box"] for r in records], np.float32).reshape(-1, 4),
        }
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise InputFileError(path, f"not a readable instance-track file ({type(error).__name__}: {error})") from None


def roi_average(maps: torch.Tensor, window: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Average of each box's region in its window's feature map, by bilinear sampling of a
    SAMPLES x SAMPLES grid inside the box.

    Shape: maps (W, D, h, w), window (M,) int64 window index per box, boxes (M, 4) normalised
    x1, y1, x2, y2 -> (M, D).
    """
    if boxes.shape[0] == 0:
        return maps.new_zeros((0, maps.shape[1]))
    steps = (torch.arange(SAMPLES, device=boxes.device, dtype=boxes.dtype) + 0.5) / SAMPLES  # (S,)
    xs = boxes[:, 0:1] + (boxes[:, 2:3] - boxes[:, 0:1]) * steps  # (M, S) in [0, 1]
    ys = boxes[:, 1:2] + (boxes[:, 3:4] - boxes[:, 1:2]) * steps  # (M, S)
    grid = torch.stack(torch.broadcast_tensors(xs[:, None, :], ys[:, :, None]), dim=-1)  # (M, S, S, 2) as (x, y)
    sampled = F.grid_sample(
        maps[window], grid * 2 - 1, mode="bilinear", padding_mode="border", align_corners=False
    )  # (M, D, S, S)
    return sampled.mean(dim=(2, 3))  # (M, D)


def window_of_second(seconds: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Index of the window whose [start, end) holds each second (the last window for later ones).

    Shape: seconds (M,), starts (W,), ends (W,) -> (M,) int64; -1 where a second precedes every window.
    """
    index = np.searchsorted(starts, seconds, side="right") - 1  # (M,)
    return np.where(seconds < ends[-1], index, len(starts) - 1) if len(starts) else np.full(len(seconds), -1)
