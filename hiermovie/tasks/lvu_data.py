"""The LVU side of stage 2: movies with their cached tokens and instances, LVU's span protocol and its
per-video aggregation (LVU `src/run.py`, notes `lvu_and_backbone.md` A2).

- training: one random `span_sec` span per video and epoch;
- evaluation: a span ending at every second of the video (gap 1), the whole video when it is shorter;
- a video's prediction: the argmax of its spans' summed softmax, or the mean of its spans' regression
  outputs, scored against LVU's shifted targets (`hiermovie.datasets.lvu`).
"""

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from hiermovie.cache import EventCache
from hiermovie.datasets.lvu import LVU_TASKS, load_lvu_task
from hiermovie.errors import HiermovieError


@dataclass(frozen=True)
class Movie:
    """One LVU video from the cache.

    Shape: centre_sec (L,) token centres; raw (L, D) backbone tokens; context (L, H) TxE outputs or None;
    instance_* (M,) / (M, D) / (M, 4) the cached instances (sec, track, shot, features, box).
    """

    video_id: str
    label: float  # class id, or LVU's shifted regression target
    duration: float
    centre_sec: np.ndarray
    raw: np.ndarray
    context: np.ndarray | None
    instance_sec: np.ndarray
    instance_track: np.ndarray
    instance_shot: np.ndarray
    instance_features: np.ndarray
    instance_box: np.ndarray


def load_movies(
    cache: EventCache,
    labels: Path,
    task: str,
    split: str,
    context: dict[str, np.ndarray] | None,
    skip_missing: bool,
    loaded: dict[str, Movie] | None = None,
) -> tuple[list[Movie], int]:
    """The split's movies in label-file order and how many were skipped (absent from the cache).

    A movie missing from the cache is an error unless `skip_missing` (real LVU: some videos are gone).
    `context` maps video id -> (L, H) contextual embeddings of its tokens. `loaded` (video id -> movie)
    keeps the videos read so far, so a video labelled in several tasks is read from the cache once.
    """
    loaded = {} if loaded is None else loaded
    records = load_lvu_task(labels, task, split)
    missing = [r.youtube_id for r in records if r.youtube_id not in cache]
    if missing and not skip_missing:
        raise HiermovieError(
            f"{cache.root}: {len(missing)} of {len(records)} LVU {task} {split} videos are not in the cache "
            f"(e.g. {missing[0]}); extract them, or pass --skip-missing to leave them out"
        )
    movies = []
    for record in records:
        if record.youtube_id in cache:
            if record.youtube_id not in loaded:
                loaded[record.youtube_id] = cached_movie(cache, record.youtube_id, 0.0, context)
            movies.append(replace(loaded[record.youtube_id], label=float(record.label)))
    if not movies:
        raise HiermovieError(f"{cache.root}: none of the LVU {task} {split} videos is in the cache")
    return movies, len(missing)


def cached_movie(cache: EventCache, video_id: str, label: float, context: dict[str, np.ndarray] | None) -> Movie:
    """One video's tokens and instances from the cache, with its label and (optionally) contextual tokens."""
    tokens, instances = cache.tokens(video_id), cache.instances(video_id)
    if len(tokens) == 0:
        raise HiermovieError(f"{cache.root}: video {video_id} has no event tokens")
    return Movie(
        video_id=video_id,
        label=label,
        duration=float(tokens.end_sec[-1]),
        centre_sec=(tokens.start_sec + tokens.end_sec) / 2,  # (L,)
        raw=np.asarray(tokens.features, np.float32),  # (L, D)
        context=None if context is None else context[video_id],  # (L, H)
        instance_sec=np.asarray(instances.sec, np.int64),  # (M,)
        instance_track=np.asarray(instances.track_id, np.int64),  # (M,)
        instance_shot=np.asarray(instances.shot_id, np.int64),  # (M,)
        instance_features=np.asarray(instances.features, np.float32),  # (M, D)
        instance_box=np.asarray(instances.box, np.float32),  # (M, 4)
    )


def eval_span_starts(duration: float, span_sec: float) -> np.ndarray:
    """Starts of LVU's evaluation spans: one ending at every whole second from span_sec on (gap 1);
    [0] when the video is no longer than one span."""
    last = int(np.floor(duration - span_sec + 1e-9))
    return np.arange(max(last, 0) + 1, dtype=np.float64)  # (S,)


def train_span_start(duration: float, span_sec: float, rng: np.random.Generator) -> float:
    """A random whole-second start of a training span inside the video (LVU: a random span per video)."""
    return float(rng.integers(0, int(eval_span_starts(duration, span_sec)[-1]) + 1))


def span_tokens(movie: Movie, start: float, span_sec: float) -> np.ndarray:
    """Indices of the tokens whose centre lies in [start, start + span_sec). Shape (k,)."""
    return np.flatnonzero((movie.centre_sec >= start) & (movie.centre_sec < start + span_sec))


def span_scene(movie: Movie, start: float, span_sec: float, kind: str) -> dict[str, np.ndarray]:
    """The span's scene tokens (`kind` "raw": backbone, "context": TxE), one per token whose centre lies in
    [start, start + span_sec), in time order, with the second of each centre relative to the span start (the scene
    pathway's input); a span shorter than one token gets the nearest token, its second clipped into the span."""
    rows = span_tokens(movie, start, span_sec)  # (k,)
    if len(rows) == 0:
        rows = np.array([int(np.argmin(np.abs(movie.centre_sec - start)))])  # (1,)
    tokens = movie.raw if kind == "raw" else movie.context  # (L, D) or (L, H)
    if tokens is None:
        raise ValueError(f"movie {movie.video_id} has no {kind} tokens")
    sec = np.clip(np.floor(movie.centre_sec[rows] - int(start)), 0, int(np.ceil(span_sec)) - 1)  # (k,)
    return {"features": tokens[rows], "sec": sec.astype(np.int64)}  # (k, D), (k,)


def span_instances(movie: Movie, start: float, span_sec: float) -> dict[str, np.ndarray]:
    """The instances seen in [start, start + span_sec), seconds relative to the span start (OT input)."""
    keep = (movie.instance_sec >= start) & (movie.instance_sec < start + span_sec)  # (M,)
    return {
        "features": movie.instance_features[keep],  # (m, D)
        "box": movie.instance_box[keep],  # (m, 4)
        "sec": (movie.instance_sec[keep] - int(start)).astype(np.int64),  # (m,)
        "shot": movie.instance_shot[keep],  # (m,)
        "track": movie.instance_track[keep],  # (m,)
    }


def aggregate_classification(probabilities: np.ndarray, video: np.ndarray, num_videos: int) -> np.ndarray:
    """LVU: per video, the argmax of its spans' summed softmax. probabilities (S, C), video (S,) -> (V,)."""
    summed = np.zeros((num_videos, probabilities.shape[1]))  # (V, C)
    np.add.at(summed, video, probabilities)
    return summed.argmax(axis=1)


def aggregate_regression(outputs: np.ndarray, video: np.ndarray, num_videos: int) -> np.ndarray:
    """LVU: per video, the mean of its spans' outputs. outputs (S,), video (S,) -> (V,)."""
    total = np.bincount(video, weights=outputs, minlength=num_videos)  # (V,)
    return total / np.bincount(video, minlength=num_videos)


def lvu_metric(task: str, predictions: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy (classification) or MSE against the shifted targets (like_ratio, view_count)."""
    if LVU_TASKS[task] == 0:
        return float(np.mean((predictions - labels) ** 2))
    return float(np.mean(predictions == labels))


def rank_rows(means: dict[str, dict[str, float]], lower_is_better: dict[str, bool]) -> dict[str, dict]:
    """Table 5's last columns: per row, its rank on every task (1 = best; ties share the better rank),
    "#top-1" (tasks ranked first) and "mean rank" (over the tasks)."""
    rows = list(means)
    ranks: dict[str, dict[str, int]] = {row: {} for row in rows}
    for task, lower in lower_is_better.items():
        for row in rows:
            value = means[row][task]
            better = sum((means[o][task] < value) if lower else (means[o][task] > value) for o in rows)
            ranks[row][task] = better + 1
    return {
        row: {
            "ranks": ranks[row],
            "top1": sum(rank == 1 for rank in ranks[row].values()),
            "mean_rank": float(np.mean(list(ranks[row].values()))),
        }
        for row in rows
    }
