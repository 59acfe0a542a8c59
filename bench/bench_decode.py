"""Decoding throughput: VidSitu-style event clips at the benchmark's size, then at a paper-scale source size.

    python bench/bench_decode.py [--videos N] [--seconds S] [--paper-videos M]

Part 1 writes N coded 112x112 30 fps videos of S seconds, then times on the same files
  (a) decord, one `read_frames` call per video for all its event windows,
  (b) decord, one call per window,
  (c) PyAV, one call per video.
An event is 2 s (VidSitu: 5 events in 10 s); its clip is 16 frames at stride 4 around the event centre.
Each timing is the median of 3 repeats. Report the ratios of clips/s (b/a, c/a): machines are noisy.

Part 2 writes M 10-second 640x360 videos (a realistic source) and times decode-only event clips/s of the
paper profile (16x4 at 224 px, resized in the decoder) with decord's threads per call at 1 (the default) or
auto, in 1 or 2 parallel workers: how many decoding workers a backbone of a given clips/s needs.
"""

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from hiermovie.datasets.synth.framecode import draw_frame_code, read_frame_code
from hiermovie.extract.config import BACKBONE_PROFILES, BackboneConfig
from hiermovie.video.decode import read_frames, read_selected, write_video
from hiermovie.video.windows import event_clips_frame_indices, vidsitu_windows

FPS, SIZE = 30, 112
CLIP_FRAMES, STRIDE = 16, 4
REPEATS = 3


def event_windows(num_frames: int) -> list[list[int]]:
    """Frame indices of each 2 s event's clip: centres 30, 90, 150, ...; c-32, c-28, ..., c+28, clipped."""
    centres = range(FPS, num_frames, 2 * FPS)
    offsets = np.arange(-CLIP_FRAMES // 2, CLIP_FRAMES // 2) * STRIDE  # (16,) -32 .. 28
    return [np.clip(c + offsets, 0, num_frames - 1).tolist() for c in centres]


def moving_frames(num_frames: int, seed: int, width: int = SIZE, height: int = SIZE):
    """A drifting gradient with a moving square and the frame-index code, so the encoder has real motion."""
    rng = np.random.default_rng(seed)
    ramp = np.linspace(0, 255, width, dtype=np.float32)  # (W,)
    colour = rng.integers(0, 256, 3)
    side = max(8, height // 5)
    for index in range(num_frames):
        frame = np.empty((height, width, 3), np.uint8)
        frame[:] = ((ramp[None, :, None] + 3 * index) % 256).astype(np.uint8)  # (H, W, 3)
        x = (2 * index) % (width - side)
        frame[height // 6 : height // 6 + side, x : x + side] = colour
        draw_frame_code(frame, index)
        yield frame


def write_moving_video(path: Path, size: tuple[int, int], seconds: int, seed: int) -> None:
    """A 30 fps `moving_frames` video at (width, height)."""
    write_video(path, moving_frames(FPS * seconds, seed, *size), fps=FPS)


def decode_clips_per_s(paths: list[Path], config: BackboneConfig, threads: int = 1, workers: int = 1) -> float:
    """Event clips/s decoded by `workers` parallel workers: each video's 5 VidSitu event clips of the
    backbone's sampling in one call, resized to its crop size in the decoder (decord `threads` per call)."""

    def decode(path: Path) -> None:
        read_selected(
            path,
            lambda info: event_clips_frame_indices(
                vidsitu_windows(), info.fps, config.num_frames, config.sampling_rate, info.num_frames
            ),
            size=config.crop_size,
            threads=threads,
        )

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:  # decord releases the GIL while decoding
        list(pool.map(decode, paths))
    return len(paths) * len(vidsitu_windows()) / (time.perf_counter() - started)


def paper_scale(count: int, folder: Path) -> None:
    """Part 2: decode-only clips/s of the paper profile on 640x360 sources, per worker and in total."""
    config = BACKBONE_PROFILES["paper"]
    videos = [folder / f"source{i}.mp4" for i in range(count)]
    for seed, path in enumerate(videos):
        write_moving_video(path, (640, 360), 10, seed)
    decode_clips_per_s(videos[:1], config)  # warm-up
    settings = [("1 worker, decord threads 1", 1, 1), ("1 worker, decord threads auto", 0, 1)]
    settings += [("2 workers, decord threads 1", 1, 2), ("2 workers, decord threads auto", 0, 2)]
    runs = {label: [] for label, *_ in settings}
    for _ in range(REPEATS):  # round-robin against the machine's slow spells
        for label, threads, workers in settings:
            runs[label].append(decode_clips_per_s(videos, config, threads, workers))
    rates = {label: statistics.median(values) for label, values in runs.items()}
    base = rates[settings[0][0]]
    print(f"\n{count} videos x 10 s, 640x360 -> paper profile 16x4 at 224 px, 5 event clips a video, decode only")
    print(f"{'setting':<34}{'clips/s':>10}{'ratio to 1 worker, threads 1':>30}")
    for label, rate in rates.items():
        print(f"{label:<34}{rate:>10.1f}{rate / base:>30.2f}")
    print(f"decoding workers (threads 1) per 1,000 backbone clips/s: {1000 / base:.0f}")


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
    parser.add_argument("--paper-videos", type=int, default=4, help="640x360 videos of part 2 (0: skip it)")
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
    if args.paper_videos:
        with tempfile.TemporaryDirectory() as folder:
            paper_scale(args.paper_videos, Path(folder))


if __name__ == "__main__":
    main()
