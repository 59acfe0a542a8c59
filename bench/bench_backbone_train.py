"""Backbone training throughput: clips/s of CVRL steps fed by the real input pipeline (decoding in
DataLoader workers + batch augmentation) divided by clips/s of the bare step (forward, backward,
SGD) on preloaded, already augmented tensors: same process, same batch, measured side by side.

    python bench/bench_backbone_train.py [--steps 4]
"""

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from hiermovie.datasets.synth.render import render
from hiermovie.datasets.synth.story import action_story
from hiermovie.datasets.synth.world import VERB_IDS
from hiermovie.datasets.video_folder import load_video_folder
from hiermovie.extract.config import BACKBONE_PROFILES
from hiermovie.extract.data import ClipSampling, VideoClips, collate_clips
from hiermovie.extract.methods import build_method
from hiermovie.extract.pretrain import make_views
from hiermovie.video.decode import write_video

PROFILES = {  # name -> (config, batch size): paper at 112 px and a CPU-sized batch
    "tiny": (BACKBONE_PROFILES["tiny"], 8),
    "paper@112": (replace(BACKBONE_PROFILES["paper"], crop_size=112, projection_hidden=2048), 2),
}


def write_videos(folder: Path, count: int) -> Path:
    """`count` 3-second 112 px action clips in Kinetics-style class folders."""
    for i in range(count):
        verb = VERB_IDS[i % len(VERB_IDS)]
        story = action_story(np.random.default_rng(i), verb, 30, 3)
        write_video(folder / verb.split(".")[0] / f"{i:04d}.mp4", (f for f, _ in render(story, 112, i)))
    return folder


def timed_steps(method, optimizer, batches, config, steps: int) -> float:
    """Seconds for `steps` training steps over the `batches` iterator (views made inside)."""
    generator = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    for _, batch in zip(range(steps), batches, strict=False):
        views = make_views(batch, config, generator, torch.device("cpu")) if isinstance(batch, dict) else batch
        loss, _ = method(*views)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def bench(name: str, videos: list, steps: int) -> tuple[float, float]:
    config, batch_size = PROFILES[name]
    config = replace(config, batch_size=batch_size)
    torch.manual_seed(0)
    method = build_method(config, num_classes=len(VERB_IDS))
    optimizer = torch.optim.SGD(method.parameters(), lr=1e-3, momentum=0.9)
    sampling = ClipSampling(config.num_frames, config.sampling_rate, config.crop_size, views=2)
    loader = DataLoader(
        VideoClips(videos, sampling),
        batch_size=batch_size,
        shuffle=True,
        num_workers=2,
        collate_fn=collate_clips,
        drop_last=True,
        persistent_workers=True,
    )
    timed_steps(method, optimizer, iter(loader), config, 1)  # warm up workers, allocator, kernels
    pipeline = timed_steps(method, optimizer, (b for _ in range(99) for b in loader), config, steps)
    batch = next(iter(loader))
    views = make_views(batch, config, torch.Generator().manual_seed(0), torch.device("cpu"))
    bare = timed_steps(method, optimizer, (views for _ in range(steps)), config, steps)
    clips = steps * batch_size * 2  # two views per video
    return clips / pipeline, clips / bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        videos = load_video_folder(write_videos(Path(tmp) / "videos", 32))
        print(f"CVRL training steps, {args.steps} per measurement, 2 decoding workers, CPU threads 2")
        print(f"{'profile':<11} {'batch':>5} {'pipeline clips/s':>17} {'bare clips/s':>13} {'ratio':>6}")
        for name in PROFILES:
            pipeline, bare = bench(name, videos, args.steps)
            print(f"{name:<11} {PROFILES[name][1]:>5} {pipeline:>17.2f} {bare:>13.2f} {pipeline / bare:>6.2f}")


if __name__ == "__main__":
    main()
