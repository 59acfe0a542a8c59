"""Event windows: where in a video each event feature is computed. Pure functions, exact times.

Two conventions:
- VidSitu's 5 events of a 10-second clip (`vidsitu_windows`): event k covers [2(k-1), 2k) s and the
  backbone clip is centred on frame int((k - 0.5) * 60) of the 30 fps clip, i.e. frames 30, 90, 150,
  210, 270 (VidSitu `dat_loader.py`, TARGET_FPS 30).
- A fixed stride for long videos (`fixed_stride_windows`, 1, 2 or 3 s): window i covers
  [i * stride, (i + 1) * stride); a trailing partial window is dropped.
At 2 s the two agree on 10-second clips. Times are `Fraction`s so long videos never drift
(as pytorchvideo's `clip_sampling.py` does).

`clip_frame_indices` maps a window to the backbone's input frames: `num_frames` frames at
`sampling_rate` around the centre frame, VidSitu's `range(c - span/2, c + span/2, rate)` clipped
to the video (so a clip at the edge repeats its first or last frame).
"""

from fractions import Fraction
from typing import NamedTuple

import numpy as np

VIDSITU_EVENTS = 5
VIDSITU_EVENT_SEC = Fraction(2)


class EventWindow(NamedTuple):
    """One event window; times in seconds from the start of the video."""

    index: int
    start_sec: Fraction
    end_sec: Fraction

    @property
    def center_sec(self) -> Fraction:
        return (self.start_sec + self.end_sec) / 2


def fixed_stride_windows(duration_sec: Fraction, stride_sec: Fraction) -> list[EventWindow]:
    """Consecutive windows of `stride_sec` covering a video of `duration_sec`; partial tail dropped."""
    duration_sec, stride_sec = Fraction(duration_sec), Fraction(stride_sec)
    if stride_sec <= 0:
        raise ValueError(f"window stride must be positive, got {stride_sec}")
    count = int(duration_sec // stride_sec)
    return [EventWindow(i, i * stride_sec, (i + 1) * stride_sec) for i in range(count)]


def vidsitu_windows() -> list[EventWindow]:
    """VidSitu's 5 events of 2 s each in a 10-second clip (Ev1..Ev5)."""
    return fixed_stride_windows(VIDSITU_EVENTS * VIDSITU_EVENT_SEC, VIDSITU_EVENT_SEC)


def center_frame(window: EventWindow, fps: Fraction) -> int:
    """The frame the backbone clip is centred on: int(centre * fps), as VidSitu's int((k-0.5)*60)."""
    return int(window.center_sec * Fraction(fps))


def clip_frame_indices(
    window: EventWindow, fps: Fraction, num_frames: int, sampling_rate: int, video_frames: int
) -> np.ndarray:
    """Frame indices of the backbone clip for `window`, clipped to [0, video_frames - 1].

    Shape: (num_frames,) int64. The span is num_frames * sampling_rate frames centred on
    `center_frame(window, fps)`: 16 x 4 = 64 frames, like VidSitu's 64-frame event span.
    """
    if video_frames <= 0:
        raise ValueError("video has no frames")
    half_span = num_frames * sampling_rate // 2
    start = center_frame(window, fps) - half_span
    indices = start + sampling_rate * np.arange(num_frames, dtype=np.int64)  # (num_frames,)
    return np.clip(indices, 0, video_frames - 1)


def event_clips_frame_indices(
    windows: list[EventWindow], fps: Fraction, num_frames: int, sampling_rate: int, video_frames: int
) -> np.ndarray:
    """The clips of all `windows` concatenated, so one decode call serves every event of a video.

    Shape: (len(windows) * num_frames,) int64; clip w is rows [w * num_frames, (w + 1) * num_frames).
    """
    return np.concatenate(
        [clip_frame_indices(w, fps, num_frames, sampling_rate, video_frames) for w in windows]
    ).astype(np.int64)
