"""Event windows against a table of cases and an independent reference written from VidSitu's code."""

from fractions import Fraction

import numpy as np
import pytest

from hiermovie.video.windows import (
    EventWindow,
    center_frame,
    clip_frame_indices,
    event_clips_frame_indices,
    fixed_stride_windows,
    vidsitu_windows,
)


def reference_vidsitu_clip(event: int, num_frames: int, rate: int, video_frames: int = 300) -> list[int]:
    """VidSitu dat_loader: centre int((k - 0.5) * 60), range(c - span/2, c + span/2, rate), clipped."""
    centre = int((event - 0.5) * 60)
    span = num_frames * rate
    return [min(max(i, 0), video_frames - 1) for i in range(centre - span // 2, centre + span // 2, rate)]


def test_vidsitu_windows_are_the_five_two_second_events():
    windows = vidsitu_windows()
    assert [(w.start_sec, w.end_sec) for w in windows] == [(2 * k, 2 * k + 2) for k in range(5)]
    assert [center_frame(w, Fraction(30)) for w in windows] == [30, 90, 150, 210, 270]


@pytest.mark.parametrize("num_frames, rate", [(16, 4), (8, 8), (32, 2)])
@pytest.mark.parametrize("event", [1, 2, 3, 4, 5])
def test_clip_indices_match_vidsitu_reference(event, num_frames, rate):
    window = vidsitu_windows()[event - 1]
    got = clip_frame_indices(window, Fraction(30), num_frames, rate, 300)
    assert got.tolist() == reference_vidsitu_clip(event, num_frames, rate)
    assert got.dtype == np.int64


@pytest.mark.parametrize(
    "event, expected",
    [  # the 16x4 clip of each event of a 300-frame clip: edges repeat the first and last frame
        (1, [0, 2, 6, 10, 14, 18, 22, 26, 30, 34, 38, 42, 46, 50, 54, 58]),
        (3, list(range(118, 182, 4))),
        (5, [238, 242, 246, 250, 254, 258, 262, 266, 270, 274, 278, 282, 286, 290, 294, 298]),
    ],
)
def test_clip_indices_table(event, expected):
    assert clip_frame_indices(vidsitu_windows()[event - 1], Fraction(30), 16, 4, 300).tolist() == expected


def test_clip_indices_clipped_to_a_short_video():
    window = EventWindow(0, Fraction(0), Fraction(2))
    assert clip_frame_indices(window, Fraction(30), 4, 4, 20).tolist() == [19, 19, 19, 19]  # centre past the end
    assert clip_frame_indices(window, Fraction(30), 16, 4, 40).max() == 39


@pytest.mark.parametrize(
    "duration, stride, count, last_end",
    [
        (Fraction(10), Fraction(2), 5, Fraction(10)),
        (Fraction(10), Fraction(3), 3, Fraction(9)),  # partial tail [9, 10) dropped
        (Fraction(10), Fraction(1), 10, Fraction(10)),
        (Fraction(1), Fraction(2), 0, None),  # shorter than one window
        (Fraction(900 * 1001, 30000), Fraction(1), 30, Fraction(30)),  # 900 frames at 29.97 fps = 30.03 s
        (Fraction(3 * 3600), Fraction(2), 5400, Fraction(10800)),  # 3 hours
        (Fraction(323677 * 1001, 30000), Fraction(3), 3600, Fraction(10800)),  # 3 h at 29.97 fps, no drift
    ],
)
def test_fixed_stride_windows_table(duration, stride, count, last_end):
    windows = fixed_stride_windows(duration, stride)
    assert len(windows) == count
    assert [w.index for w in windows] == list(range(count))
    if count:
        assert windows[-1].end_sec == last_end
        assert all(isinstance(w.start_sec, Fraction) for w in windows)
        assert all(b.start_sec == a.end_sec for a, b in zip(windows, windows[1:], strict=False))


def test_fixed_stride_matches_reference_at_random_durations():
    rng = np.random.default_rng(0)
    for _ in range(200):
        frames, fps, stride = int(rng.integers(1, 20000)), Fraction(30000, 1001), Fraction(int(rng.integers(1, 4)))
        duration = Fraction(frames) / fps
        expected = (frames * 1001) // (30000 * stride.numerator)  # whole windows, integer arithmetic
        assert len(fixed_stride_windows(duration, stride)) == expected


def test_two_second_stride_agrees_with_vidsitu_on_ten_second_clips():
    assert fixed_stride_windows(Fraction(10), Fraction(2)) == vidsitu_windows()


def test_non_positive_stride_is_refused():
    with pytest.raises(ValueError, match="stride"):
        fixed_stride_windows(Fraction(10), Fraction(0))


def test_event_clips_concatenate_every_window_clip():
    indices = event_clips_frame_indices(vidsitu_windows(), Fraction(30), 16, 4, 300)
    assert indices.dtype == np.int64 and indices.shape == (80,)
    assert indices.tolist() == [i for event in range(1, 6) for i in reference_vidsitu_clip(event, 16, 4)]
