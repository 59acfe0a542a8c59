"""Extraction throughput, side by side in one run on the same videos and backbone:

- end-to-end events/s of `extract` (decoding in workers, windows batched across videos, HDF5 writes)
  divided by backbone-only events/s on preloaded tensors (same batch size): target >= 0.85;
- the speedup over naive per-window decoding (the video reopened and sought for every window, as
  VidSitu's loader does, then the same batched backbone);
- the cache size per 1,000 events.

    python bench/bench_extract.py [--videos 48]
"""

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from hiermovie.checkpoint import save_checkpoint
from hiermovie.datasets.synth.render import render
from hiermovie.datasets.synth.story import clip_story
from hiermovie.extract.augment import normalize, to_float_clips
from hiermovie.extract.backbone import create_slow_d
from hiermovie.extract.config import BACKBONE_PROFILES, EXTRACT_PROFILES
from hiermovie.extract.featurize import ExtractOptions, extract
from hiermovie.video.decode import probe_video, read_frames, write_video
from hiermovie.video.windows import clip_frame_indices, vidsitu_windows

# name -> (backbone config, videos used, decoding workers): paper at 112 px on a few clips, it is slow on a CPU.
# On the CPU, torch runs on the cores the decoding workers leave: decode-heavy tiny extracts fastest with
# 2 workers beside 1 thread, compute-bound paper with `--workers 0` (decoding in the main process, 2 threads).
PROFILES = {
    "tiny": (BACKBONE_PROFILES["tiny"], None, 2),
    "paper@112": (replace(BACKBONE_PROFILES["paper"], crop_size=112), 8, 0),
}


def write_clips(folder: Path, count: int) -> list[Path]:
    """`count` 10-second 112 px clips of the benchmark's world (5 VidSitu events each)."""
    paths = []
    for i in range(count):
        story = clip_story(np.random.default_rng([11, i]), 30)
        paths.append(folder / f"clip{i:03d}.mp4")
        write_video(paths[-1], (f for f, _ in render(story, 112, i)))
    return paths


def clip_indices_of(path: Path, config) -> list[np.ndarray]:
    info = probe_video(path)
    return [
        clip_frame_indices(w, info.fps, config.num_frames, config.sampling_rate, info.num_frames)
        for w in vidsitu_windows()
    ]


@torch.inference_mode()
def backbone_events_per_s(backbone, clips: torch.Tensor, batch_size: int) -> float:
    """Events/s of the backbone alone on preloaded uint8 clips (N, T, S, S, 3), batched."""
    started = time.perf_counter()
    for k in range(0, len(clips), batch_size):
        backbone.forward_features(normalize(to_float_clips(clips[k : k + batch_size])))
    return len(clips) / (time.perf_counter() - started)


def naive_events_per_s(backbone, paths: list[Path], config, batch_size: int) -> float:
    """Events/s when every window reopens and seeks its video (one decode call per window)."""
    started, batch, events = time.perf_counter(), [], 0
    for path in paths:
        for indices in clip_indices_of(path, config):
            batch.append(read_frames(path, indices, size=config.crop_size))  # (T, S, S, 3)
            events += 1
            if len(batch) == batch_size:
                backbone_events_per_s(backbone, torch.from_numpy(np.stack(batch)), batch_size)
                batch = []
    if batch:
        backbone_events_per_s(backbone, torch.from_numpy(np.stack(batch)), batch_size)
    return events / (time.perf_counter() - started)


def bench(name: str, paths: list[Path], tmp: Path) -> dict:
    config, limit, workers = PROFILES[name]
    paths = paths[:limit] if limit else paths
    torch.manual_seed(0)
    backbone = create_slow_d(config).eval()
    checkpoint = tmp / f"{name}.pt"
    save_checkpoint(checkpoint, kind="backbone", config=config, step=0, backbone=backbone.state_dict())
    extract_config = replace(EXTRACT_PROFILES["tiny"], batch_size=16)
    frames = [read_frames(p, np.concatenate(clip_indices_of(p, config)), size=config.crop_size) for p in paths]
    clips = torch.from_numpy(np.concatenate(frames)).view(-1, config.num_frames, config.crop_size, config.crop_size, 3)
    bare = backbone_events_per_s(backbone, clips, extract_config.batch_size)
    data = tmp / f"videos_{name}"
    data.mkdir()
    for path in paths:
        (data / path.name).symlink_to(path)
    started = time.perf_counter()
    manifest = extract(
        checkpoint,
        data,
        tmp / f"cache_{name}",
        extract_config,
        ExtractOptions(device="cpu", workers=workers, progress=False),
    )
    end_to_end = manifest["tokens"] / (time.perf_counter() - started)
    naive = naive_events_per_s(backbone, paths, config, extract_config.batch_size)
    size = sum(p.stat().st_size for p in (tmp / f"cache_{name}" / "shards").glob("*.h5"))
    return {
        "workers": workers,
        "events": manifest["tokens"],
        "bare": bare,
        "end_to_end": end_to_end,
        "naive": naive,
        "kb_per_1000": size / manifest["tokens"] * 1000 / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=48)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_clips(Path(tmp) / "clips", args.videos)
        print("extraction of 10-second 112 px clips (5 events each), batch 16, CPU")
        print(
            f"{'profile':<10} {'workers':>7} {'events':>6} {'backbone ev/s':>14} {'end-to-end ev/s':>16} {'ratio':>6} "
            f"{'naive ev/s':>11} {'speedup':>8} {'KB/1000 events':>15}"
        )
        for name in PROFILES:
            r = bench(name, paths, Path(tmp))
            print(
                f"{name:<10} {r['workers']:>7} {r['events']:>6} {r['bare']:>14.1f} {r['end_to_end']:>16.1f} "
                f"{r['end_to_end'] / r['bare']:>6.2f} {r['naive']:>11.1f} {r['end_to_end'] / r['naive']:>8.2f} "
                f"{r['kb_per_1000']:>15.0f}"
            )


if __name__ == "__main__":
    main()
