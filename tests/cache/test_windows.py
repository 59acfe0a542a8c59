"""EventCache.windows: subsampling every k-th token and sliding windows of `length` kept tokens."""

import numpy as np
import pytest

from hiermovie.cache import EventCache
from hiermovie.errors import HiermovieError


@pytest.fixture
def cache(tmp_path, make_video, write_cache):
    """A 1 s extraction: one video of 12 tokens, one of 4 (too short for length 5), one of 9."""
    write_cache(tmp_path, [[make_video("long", 12), make_video("short", 4)], [make_video("mid", 9)]])
    return EventCache(tmp_path)


# (stride_sec, length) -> rows of every window of video "long" (12 tokens), written out by hand
CASES = {
    (1, 5): [[0, 1, 2, 3, 4], [1, 2, 3, 4, 5], [2, 3, 4, 5, 6], [3, 4, 5, 6, 7],
             [4, 5, 6, 7, 8], [5, 6, 7, 8, 9], [6, 7, 8, 9, 10], [7, 8, 9, 10, 11]],
    (2, 5): [[0, 2, 4, 6, 8], [2, 4, 6, 8, 10]],
    (3, 5): [],  # kept rows 0, 3, 6, 9: fewer than 5
    (3, 3): [[0, 3, 6], [3, 6, 9]],
    (2.0, 6): [[0, 2, 4, 6, 8, 10]],
    (4, 1): [[0], [4], [8]],
}  # fmt: skip


@pytest.mark.parametrize("stride, length", list(CASES))
def test_window_rows(cache, stride, length):
    windows = [w for w in cache.windows(length, stride) if w.video_id == "long"]
    assert [w.token_rows.tolist() for w in windows] == CASES[stride, length]
    tokens = cache.tokens("long")
    for window in windows:
        assert window.features.dtype == np.float32 and window.features.shape == (length, tokens.features.shape[1])
        np.testing.assert_array_equal(window.features, tokens.features[window.token_rows].astype(np.float32))
        np.testing.assert_array_equal(window.start_sec, window.token_rows * 1.0)  # 1 s extraction
        np.testing.assert_array_equal(window.end_sec, window.token_rows + 2.0)


def test_short_videos_yield_nothing(cache):
    counts = {vid: sum(w.video_id == vid for w in cache.windows(5, 1)) for vid in cache.video_ids}
    assert counts == {"long": 8, "mid": 5, "short": 0}
    assert [w.video_id for w in cache.windows(5, 2)] == ["long", "long", "mid"]  # mid keeps 0, 2, 4, 6, 8
    assert [w.video_id for w in cache.windows(5, 3)] == []  # long keeps 4 tokens, mid 3, short 2


@pytest.mark.parametrize("stride, shown", [(1.5, "1.5"), (0.5, "0.5"), (2.5, "2.5"), (0, "0")])
def test_non_multiple_stride_refused(cache, stride, shown):
    with pytest.raises(HiermovieError, match=f"^stride {shown} s is not a multiple of the extraction stride 1 s$"):
        next(cache.windows(5, stride))


def test_fractional_extraction_stride(tmp_path, attrs, make_video, write_cache):
    attrs = {**attrs, "window": {"stride_sec": 0.1}}
    write_cache(tmp_path, [[make_video("a", 10, stride=0.1)]], attrs=attrs)
    cache = EventCache(tmp_path)
    assert cache.subsample_step(0.3) == 3  # 0.3 / 0.1 is exactly 3 as Fractions, not as floats
    assert [w.token_rows.tolist() for w in cache.windows(2, 0.3)] == [[0, 3], [3, 6], [6, 9]]
