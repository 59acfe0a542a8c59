"""Decoding throughput for VidSitu-style event clips: one batched call per video vs one call per window.

    python bench/bench_decode.py [--videos N] [--seconds S]

Writes N coded 112x112 30 fps videos of S seconds, then times on the same files
  (a) decord, one `read_frames` call per video for all its event windows,
  (b) decord, one call per window,
  (c) PyAV, one call per video.
An event is 2 s (VidSitu: 5 events in 10 s); its clip is 16 frames at stride 4 around the event centre.
Each timing is the median of 3 repeats. Report the ratios of clips/s (b/a, c/a): machines are noisy.
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from hiermovie.datasets.synth.framecode import draw_frame_code, read_frame_code
from hiermovie.video.decode import read_frames, write_video

FPS, SIZE = 30, 112
CLIP_FRAMES, STRIDE = 16, 4
REPEATS = 3


def event_windows(num_frames: int) -> list[list[int]]:
    """Frame indices of each 2 s event's clip: centres 30, 90, 150, ...; c-32, c-28, ..., c+28, clipped."""
    centres = range(FPS, num_frames, 2 * FPS)
    offsets = np.arange(-CLIP_FRAMES // 2, CLIP_FRAMES // 2) * STRIDE  # (16,) -32 .. 28
    return [np.clip(c + offsets, 0, num_frames - 1).tolist() for c in centres]


def moving_frames(num_frames: int, seed: int):
    """A drifting gradient with a moving square, so the encoder has real motion to code."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, SIZE, dtype=np.float32)  # (W,)
    colour = rng.integers(0, 256, 3)
    for index in range(num_frames):
        frame = np.empty((SIZE, SIZE, 3), np.uint8)
        frame[:] = ((ramp[None, :, None] + 3 * index) % 256).astype(np.uint8)  # (H, W, 3)
        x = (2 * index) % (SIZE - 24)
        frame[20:44, x : x + 24] = colour
        draw_frame_code(frame, index)
        yield frame


def time_pass(videos: list[Path], windows: list[list[int]], method: str) -> float:
    """Seconds to decode every window of every video once with `method`."""
    flat = [i for window in windows for i in window]
    start = time.perf_counter()
    for path in videos:
        if method == "decord, per window":
            for window in windows:
                read_frames(path, window, backend="decord")
        else:
            read_frames(path, flat, backend=method.split(",")[0])  # "decord" or "pyav"
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=8, help="number of videos")
    parser.add_argument("--seconds", type=int, default=10, help="length of each video (2 s per event)")
    args = parser.parse_args()

    num_frames = args.seconds * FPS
    windows = event_windows(num_frames)
    with tempfile.TemporaryDirectory() as folder:
        videos = [Path(folder) / f"v{i}.mp4" for i in range(args.videos)]
        for seed, path in enumerate(videos):
            write_video(path, moving_frames(num_frames, seed), fps=FPS)

        # Sanity check (and warm-up): every backend returns exactly the frames asked for.
        flat = [i for window in windows for i in window]
        for backend in ("decord", "pyav"):
            assert [read_frame_code(f) for f in read_frames(videos[0], flat, backend=backend)] == flat

        methods = ("decord, per video", "decord, per window", "pyav, per video")
        runs = {method: [] for method in methods}
        for _ in range(REPEATS):  # round-robin, so a slow spell of the machine hits every method
            for method in methods:
                runs[method].append(time_pass(videos, windows, method))
        seconds = {method: statistics.median(times) for method, times in runs.items()}

    clips = args.videos * len(windows)
    print(f"{args.videos} videos x {args.seconds} s, {SIZE}px, {len(windows)} clips of {CLIP_FRAMES} frames")
    print(f"{'method':<22}{'clips/s':>10}{'ratio to (a)':>14}")
    for label, method in zip("abc", methods, strict=True):
        ratio = seconds[methods[0]] / seconds[method]
        print(f"({label}) {method:<18}{clips / seconds[method]:>10.1f}{ratio:>14.2f}")


if __name__ == "__main__":
    main()
