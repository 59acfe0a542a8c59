"""`hiermovie synth`: write the embedded toy-movie benchmark (videos plus VidSitu, LVU and
Kinetics-style annotations) into a folder, atomically: into a temporary sibling first, renamed
into place only when complete, so an interrupted run leaves nothing that looks finished."""

import json
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hiermovie.datasets.benchmark import BenchmarkLayout
from hiermovie.datasets.config import SynthConfig
from hiermovie.datasets.synth import lvu_part, vidsitu_part
from hiermovie.datasets.synth.render import render
from hiermovie.datasets.synth.story import Story, action_story
from hiermovie.datasets.synth.world import VERB_IDS
from hiermovie.errors import HiermovieError
from hiermovie.profiles import config_dict
from hiermovie.progress import progress_bar
from hiermovie.video.decode import write_video

MANIFEST = "synth.json"  # written last: its presence marks a complete benchmark
GENERATOR_VERSION = 6  # bump when the same config would generate different files


@dataclass(frozen=True)
class RenderJob:
    story: Story
    path: Path
    seed: int  # pixels (placement, camera wobble, grain) come from this seed
    keep_boxes: bool  # return the per-second boxes (LVU instance tracks)


def _render_job(job: RenderJob, config: SynthConfig) -> list[dict]:
    """Render and encode one video; returns the boxes at each whole second when asked."""
    boxes_per_second: list[dict] = []

    def frames():
        for index, (frame, boxes) in enumerate(
            render(job.story, config.frame_size, job.seed, config.frame_code, config.fps)
        ):
            if job.keep_boxes and index % config.fps == 0:
                boxes_per_second.append(boxes)
            yield frame

    write_video(job.path, frames(), fps=config.fps, crf=config.crf)
    return boxes_per_second


def _check_destination(out: Path, config: SynthConfig, force: bool) -> bool:
    """True if `out` already holds this exact benchmark; raises if it holds something else."""
    manifest = out / MANIFEST
    if manifest.is_file():
        try:
            existing = json.loads(manifest.read_text())
            same = existing["config"] == json.loads(json.dumps(config_dict(config)))
            same = same and existing["generator_version"] == GENERATOR_VERSION
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise HiermovieError(f"{manifest}: unreadable manifest ({error}); pass --force to regenerate") from None
        if same and not force:
            return True
    if out.exists() and any(out.iterdir()) and not force:
        raise HiermovieError(
            f"{out}: folder is not empty and holds no benchmark of this config; pass --force to replace it"
        )
    return False


def generate(
    config: SynthConfig, out: Path, jobs: int | None = None, force: bool = False, progress: bool = True
) -> dict:
    """Generate the benchmark of `config` into `out` and return its manifest (reused if present)."""
    out = Path(out)
    if _check_destination(out, config, force):
        return json.loads((out / MANIFEST).read_text())
    started = time.perf_counter()
    partial = out.parent / f".{out.name}.partial-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
        manifest = _generate_into(partial, config, jobs or os.cpu_count() or 1, progress)
        manifest["seconds"] = round(time.perf_counter() - started, 2)
        manifest["bytes"] = sum(p.stat().st_size for p in partial.rglob("*") if p.is_file())
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=1))
        if out.exists():
            shutil.rmtree(out)
        os.replace(partial, out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return manifest


def _generate_into(root: Path, config: SynthConfig, jobs: int, progress: bool) -> dict:
    seed, fps = config.seed, config.fps
    layout = BenchmarkLayout(root)
    label_rng = np.random.default_rng([seed, 0])  # annotator noise
    movies = lvu_part.make_movies(seed, config.lvu_movies, fps, config.lvu_seconds, config.hard_prob)
    clips = vidsitu_part.make_clips(config, lvu_part.youtube_ids(movies))
    vidsitu_part.write_annotations(layout.vidsitu, clips, label_rng)
    lvu_part.write_labels(layout.lvu_labels, movies)

    render_jobs = [
        RenderJob(
            clip.story, layout.vidsitu / "vsitu_video_trimmed_dir" / f"{clip.clip_id}.mp4", seed * 7919 + i, False
        )
        for i, clip in enumerate(c for split_clips in clips.values() for c in split_clips)
    ]
    lvu_entries = [entry for split_entries in movies.values() for entry in split_entries]
    first_movie = len(render_jobs)
    render_jobs += [
        RenderJob(movie.story, layout.lvu_videos / f"{yt}.mp4", seed * 7919 + 100_000 + i, True)
        for i, (yt, _, movie) in enumerate(lvu_entries)
    ]
    action_counts = {}
    for k, (split, per_verb) in enumerate(zip(("train", "val"), config.action_clips, strict=True)):
        for v, verb_id in enumerate(VERB_IDS):
            for i in range(per_verb):
                rng = np.random.default_rng([seed, 3, k, v, i])
                name = f"{vidsitu_part.youtube_id(rng)}_{0:06d}_{config.action_seconds:06d}.mp4"
                path = layout.kinetics(split) / verb_id.split(".")[0] / name
                story = action_story(rng, verb_id, fps, config.action_seconds)
                render_jobs.append(RenderJob(story, path, int(rng.integers(2**31)), False))
        action_counts[split] = per_verb * len(VERB_IDS)

    for job in render_jobs:
        job.path.parent.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        results = pool.map(_render_job, render_jobs, [config] * len(render_jobs), chunksize=1)
        bar = progress_bar(results, total=len(render_jobs), desc="synth: rendering", unit="video", enabled=progress)
        results = list(bar)
    for (yt, _, movie), boxes in zip(lvu_entries, results[first_movie:], strict=False):
        record = lvu_part.instance_record(yt, movie, fps, boxes)
        lvu_part.write_instances(layout.lvu_instances / f"{yt}.json", record)
    return {
        "generator_version": GENERATOR_VERSION,
        "config": config_dict(config),
        "vidsitu_clips": {split: len(c) for split, c in clips.items()},
        "lvu_movies": {split: len(m) for split, m in movies.items()},
        "kinetics_clips": action_counts,
        "video_seconds": round(sum(job.story.num_frames for job in render_jobs) / fps, 1),
    }
