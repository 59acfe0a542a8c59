"""CVRL's interval sampler against its analytic distribution, and clip index clipping."""

import numpy as np
import pytest

from hiermovie.extract.sampling import clip_indices, cvrl_clip_starts


def linear_cdf(d: np.ndarray, m: int) -> np.ndarray:
    """CVRL's cdf(k) = 2k/m - k²/m² of the gap density p(d) ∝ (m - d)."""
    return 2 * d / m - d**2 / m**2


def draw(video_frames: int, clip_span: int, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.array([cvrl_clip_starts(video_frames, clip_span, rng) for _ in range(n)])  # (n, 2)


def test_gap_follows_the_linear_density():
    m = 100
    starts = draw(m + 32, 32, 20_000)
    gaps = np.abs(starts[:, 1] - starts[:, 0])
    # floored gaps: P(gap <= j) = cdf(j + 1)
    for j in [5, 13, 29, 50, 75, 90]:
        assert np.mean(gaps <= j) == pytest.approx(linear_cdf(j + 1, m), abs=0.015)
    # quartiles of the continuous law m (1 - sqrt(1 - q)), within a frame of the floored draws
    for q in [0.25, 0.5, 0.75]:
        assert np.quantile(gaps, q) == pytest.approx(m * (1 - np.sqrt(1 - q)), abs=1.5)


def test_starts_stay_in_range_and_are_swapped_symmetrically():
    video_frames, span = 150, 64
    starts = draw(video_frames, span, 20_000, seed=1)
    assert starts.min() >= 0 and starts.max() <= video_frames - span
    apart = starts[:, 0] != starts[:, 1]
    assert np.mean(starts[apart, 0] < starts[apart, 1]) == pytest.approx(0.5, abs=0.02)
    assert starts.dtype.kind == "i"


@pytest.mark.parametrize("video_frames", [10, 32])
def test_video_no_longer_than_the_span_starts_both_clips_at_zero(video_frames):
    assert cvrl_clip_starts(video_frames, 32, np.random.default_rng(0)) == (0, 0)


def test_same_seed_same_starts():
    assert draw(300, 32, 50, seed=7).tolist() == draw(300, 32, 50, seed=7).tolist()


def test_clip_indices_stride_and_clip_to_the_video():
    assert clip_indices(3, 4, 2, 100).tolist() == [3, 5, 7, 9]
    got = clip_indices(0, 8, 4, 10)
    assert got.tolist() == [0, 4, 8, 9, 9, 9, 9, 9]
    assert got.dtype == np.int64
