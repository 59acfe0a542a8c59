"""Hand-made clip features, the floors a learned backbone must beat: one that sees only motion and
one that sees only appearance. Pure numpy functions of decoded frames.

- `motion_energy`: absolute differences of consecutive grey frames, averaged over a grid x grid
  layout of cells. It knows where things move and how much, nothing of what they look like.
- `still_appearance`: the first frame, shrunk to a thumbnail. It knows the set, the film look and the
  characters' colours, shapes and places, nothing of how they move.

On the embedded benchmark a linear classifier reads verbs from the first and not from the second
(tests/datasets/test_synth.py); `bench/bench_kinetics_baselines.py` compares them with a backbone.
"""

import numpy as np

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R 601


def _cell_means(images: np.ndarray, grid: int) -> np.ndarray:
    """Mean over each of grid x grid cells: (..., H, W) -> (..., grid, grid); a ragged edge is dropped."""
    h, w = images.shape[-2] // grid, images.shape[-1] // grid
    cropped = images[..., : h * grid, : w * grid]
    return cropped.reshape(*images.shape[:-2], grid, h, grid, w).mean(axis=(-3, -1))


def motion_energy(frames: np.ndarray, grid: int = 8) -> np.ndarray:
    """|frame t+1 - frame t| of the grey clip, averaged per grid cell.

    Shape: frames (N, T, H, W, 3) uint8 -> (N, (T - 1) * grid * grid) float32.
    """
    grey = frames.astype(np.float32) @ LUMA  # (N, T, H, W)
    differences = np.abs(np.diff(grey, axis=1))  # (N, T - 1, H, W)
    return _cell_means(differences, grid).reshape(len(frames), -1)


def still_appearance(frames: np.ndarray, grid: int = 16) -> np.ndarray:
    """The first frame averaged into a grid x grid RGB thumbnail.

    Shape: frames (N, T, H, W, 3) uint8 -> (N, grid * grid * 3) float32.
    """
    first = frames[:, 0].astype(np.float32).transpose(0, 3, 1, 2)  # (N, 3, H, W)
    return _cell_means(first, grid).reshape(len(frames), -1)
