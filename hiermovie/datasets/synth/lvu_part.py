"""The LVU-format part: long movies, LVU 1.0's space-separated label files for the 9 tasks, and the
per-second instance tracks of every character for the Object Transformer's instance pathway."""

import json
from pathlib import Path

import numpy as np

from hiermovie.datasets.lvu import LVU_SPLITS, LVU_TASKS
from hiermovie.datasets.synth.story import LVU_CLASSES, Movie, movie_story
from hiermovie.datasets.synth.vidsitu_part import youtube_id

INSTANCE_FORMAT = (
    "one record per character visible at each whole second t (frame t * fps): box = [x1, y1, x2, y2] "
    "normalised to [0, 1], track_id = the character (stable over the movie), shot_id = the shot"
)


def make_movies(seed: int, counts: tuple[int, int, int], fps: int, seconds: tuple[int, int], hard_prob: float):
    """{split: [(youtube id, imdb id, movie)]}, each movie from its own seeded generator."""
    movies = {}
    for k, (split, n) in enumerate(zip(LVU_SPLITS, counts, strict=True)):
        movies[split] = []
        for i in range(n):
            rng = np.random.default_rng([seed, 2, k, i])
            length = int(rng.integers(seconds[0], seconds[1] + 1))
            ids = (youtube_id(rng), f"tt{rng.integers(10**6, 10**7)}")
            movies[split].append((*ids, movie_story(rng, fps, length, hard_prob)))
    return movies


def youtube_ids(movies: dict[str, list]) -> list[str]:
    """The YouTube ids of `make_movies`' movies, split by split in LVU_SPLITS order."""
    return [youtube for split in LVU_SPLITS for youtube, _, _ in movies[split]]


def _rows(task: str, entries: list[tuple[str, str, Movie]]) -> list[str]:
    if task == "like_ratio":
        return ["like_count dislike_count youtube_id imdb_id"] + [
            f"{m.likes} {m.dislikes} {yt} {imdb}" for yt, imdb, m in entries
        ]
    if task == "view_count":
        return ["view_count youtube_id imdb_id"] + [f"{m.views} {yt} {imdb}" for yt, imdb, m in entries]
    names = LVU_CLASSES[task]
    ordered = sorted(entries, key=lambda e: e[2].labels[task])  # LVU's files are sorted by class id
    return ["class_id class_name youtube_id imdb_id"] + [
        f"{m.labels[task]} {names[m.labels[task]]} {yt} {imdb}" for yt, imdb, m in ordered
    ]


def write_labels(root: Path, movies: dict[str, list]) -> None:
    """Write `root/<task>/{train,val,test}.csv` for the 9 tasks."""
    for task in LVU_TASKS:
        folder = root / task
        folder.mkdir(parents=True, exist_ok=True)
        for split, entries in movies.items():
            (folder / f"{split}.csv").write_text("\n".join(_rows(task, entries)) + "\n")


def instance_record(youtube: str, movie: Movie, fps: int, boxes_per_second: list[dict]) -> dict:
    """The instance-track file of one movie (documented in docs/benchmark.md, "LVU part")."""
    shots = movie.story.shots
    instances = []
    for second, boxes in enumerate(boxes_per_second):
        frame = second * fps
        shot_id = next(i for i, s in enumerate(shots) if s.start_frame <= frame < s.end_frame)
        for track_id, box in sorted(boxes.items()):
            instances.append(
                {"sec": second, "track_id": track_id, "shot_id": shot_id, "box": [round(float(v), 3) for v in box]}
            )
    return {
        "video_id": youtube,
        "fps": fps,
        "format": INSTANCE_FORMAT,
        "tracks": dict(enumerate(movie.story.cast)),
        "instances": instances,
    }


def write_instances(path: Path, record: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
