"""CVRL's temporal interval sampler: where the two clips of one training video start. Pure, numpy Generator.

CVRL (`video_ssl_preprocess_ops.py::sample_ssl_sequence`) draws the gap d between the two clip starts
from the linearly decreasing density p(d) ∝ (m - d) on [0, m], m = max_offset, so nearby clips are
likelier than distant ones. Its CDF is cdf(d) = 2d/m - d²/m²; CVRL inverts it by binary search, we in
closed form: d = m (1 - sqrt(1 - u)), u ~ U[0, 1), floored to whole frames (so d ∈ [0, m - 1] and
P(d ≤ j) = cdf(j + 1)). Then start1 ~ U{0, ..., m - d}, start2 = start1 + d, and the pair is swapped
with probability 1/2.

Two deviations from CVRL: m = video_frames - num_frames * sampling_rate (CVRL: video_frames -
(num_frames - 1) * sampling_rate, one stride more), and a video no longer than the span gives both
starts 0, the caller clipping indices at the edge (CVRL draws both uniformly and loops the video).
"""

import numpy as np


def cvrl_clip_starts(video_frames: int, clip_span: int, rng: np.random.Generator) -> tuple[int, int]:
    """Start frames of CVRL's two clips, each `clip_span` (= num_frames * sampling_rate) frames long."""
    max_offset = video_frames - clip_span
    if max_offset <= 0:
        return 0, 0
    # inverse of cdf(d) = 2d/m - d²/m²; u < 1, so d < m
    gap = int(max_offset * (1.0 - np.sqrt(1.0 - rng.random())))
    start1 = int(rng.integers(0, max_offset - gap + 1))
    start2 = start1 + gap
    return (start2, start1) if rng.random() < 0.5 else (start1, start2)


def clip_indices(start: int, num_frames: int, sampling_rate: int, video_frames: int) -> np.ndarray:
    """Frame indices of a clip from `start`, every `sampling_rate` frames, clipped to [0, video_frames - 1].

    Shape: (num_frames,) int64.
    """
    indices = start + sampling_rate * np.arange(num_frames, dtype=np.int64)
    return np.clip(indices, 0, video_frames - 1)
