"""Reader for the LVU 1.0 label files (Wu & Krähenbühl, CVPR 2021): `ROOT/<task>/{train,val,test}.csv`.

The files are space separated with a header line. Classification rows are
`class_id class_name youtube_id imdb_id`; like_ratio rows `like_count dislike_count youtube_id imdb_id`;
view_count rows `view_count youtube_id imdb_id`.
"""

import math
from dataclasses import dataclass
from pathlib import Path

from hiermovie.errors import AnnotationError, HiermovieError, InputFileError

# Number of classes per task, as LVU's run.sh sets them (0 marks a regression task). Director and
# writer have 10 logits although only 8 and 7 class ids occur in the files.
LVU_TASKS: dict[str, int] = {
    "relationship": 4,
    "way_speaking": 5,
    "scene": 6,
    "director": 10,
    "writer": 10,
    "year": 9,
    "genre": 4,
    "like_ratio": 0,
    "view_count": 0,
}
LVU_SPLITS = ("train", "val", "test")
# LVU src/run.py subtracts these so the regression targets are roughly zero-mean
VIEW_COUNT_SHIFT = 11.76425435683139
LIKE_RATIO_SHIFT = 9.138220535629456

_CLASSIFICATION_HEADER = ("class_id", "class_name", "youtube_id", "imdb_id")
_HEADERS = {
    "like_ratio": ("like_count", "dislike_count", "youtube_id", "imdb_id"),
    "view_count": ("view_count", "youtube_id", "imdb_id"),
}
_VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm")


def view_count_target(views: int) -> float:
    """LVU's view-count target: ln(views) minus a constant (LVU src/run.py)."""
    return math.log(views) - VIEW_COUNT_SHIFT


def like_ratio_target(likes: int, dislikes: int) -> float:
    """LVU's like-ratio target: 10 * likes / (likes + dislikes) minus a constant (LVU src/run.py)."""
    return 10.0 * likes / (likes + dislikes) - LIKE_RATIO_SHIFT


def is_regression(task: str) -> bool:
    """True for like_ratio and view_count, False for the seven classification tasks."""
    _check_task(task)
    return LVU_TASKS[task] == 0


@dataclass(frozen=True)
class LVURecord:
    youtube_id: str
    imdb_id: str
    label: int | float  # class id, or the shifted regression target
    class_name: str | None  # e.g. "friend"; writer class 0 is literally "\N"; None for regression
    raw: tuple[int, ...]  # regression counts as in the file, () for classification


def load_lvu_task(root: Path, task: str, split: str) -> list[LVURecord]:
    """Read and validate `root/<task>/<split>.csv`, one record per video in file order."""
    _check_task(task)
    if split not in LVU_SPLITS:
        raise HiermovieError(f"unknown LVU split {split!r}; expected one of {', '.join(LVU_SPLITS)}")
    path = Path(root) / task / f"{split}.csv"
    if not path.is_file():
        raise InputFileError(path, "file not found")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise AnnotationError(path, "not UTF-8 text") from None
    if not any(line.strip() for line in lines):
        raise AnnotationError(path, "empty file")

    header = _HEADERS.get(task, _CLASSIFICATION_HEADER)
    if tuple(lines[0].split()) != header:
        raise AnnotationError(path, f"line 1: header {lines[0].strip()!r} should be {' '.join(header)!r}")
    records: list[LVURecord] = []
    first_line: dict[str, int] = {}  # youtube id -> line it first appeared on
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split()
        if not fields:
            continue
        record = _parse_row(fields, task, header, path, number)
        if record.youtube_id in first_line:
            problem = f"youtube id {record.youtube_id} already on line {first_line[record.youtube_id]}"
            raise AnnotationError(path, f"line {number}: {problem}")
        first_line[record.youtube_id] = number
        records.append(record)
    if not records:
        raise AnnotationError(path, "no records after the header")
    return records


def class_names(root: Path, task: str) -> dict[int, str]:
    """Class id -> name over the three splits of a classification task; ids that never occur are absent."""
    if is_regression(task):
        raise HiermovieError(f"LVU task {task} is a regression task and has no classes")
    names: dict[int, str] = {}
    for split in LVU_SPLITS:
        for record in load_lvu_task(root, task, split):
            label, name = int(record.label), str(record.class_name)
            known = names.setdefault(label, name)
            if known != name:
                problem = f"class {label} is named {name!r}, but {known!r} elsewhere"
                path = Path(root) / task / f"{split}.csv"
                raise AnnotationError(path, f"video {record.youtube_id}: {problem}")
    return dict(sorted(names.items()))


def lvu_labels_root(data: Path) -> Path:
    """The LVU label folder of `data`: a benchmark folder (its lvu/lvu_1.0/) or the lvu_1.0 folder itself."""
    data = Path(data)
    for root in (data, data / "lvu" / "lvu_1.0"):
        if all((root / task).is_dir() for task in LVU_TASKS):
            return root
    raise HiermovieError(f"{data}: no LVU label folders ({', '.join(LVU_TASKS)}) here or in lvu/lvu_1.0/")


def lvu_youtube_ids(root: Path, splits: tuple[str, ...] = LVU_SPLITS) -> set[str]:
    """The YouTube ids of every video of the given splits, over the 9 tasks' label files under `root`."""
    return {record.youtube_id for task in LVU_TASKS for split in splits for record in load_lvu_task(root, task, split)}


def find_video(video_dir: Path, youtube_id: str) -> Path | None:
    """The video file `video_dir/<youtube_id>.{mp4,mkv,webm}` (first that exists), or None."""
    for extension in _VIDEO_EXTENSIONS:
        path = Path(video_dir) / f"{youtube_id}{extension}"
        if path.is_file():
            return path
    return None


def _check_task(task: str) -> None:
    if task not in LVU_TASKS:
        raise HiermovieError(f"unknown LVU task {task!r}; expected one of {', '.join(LVU_TASKS)}")


def _parse_row(fields: list[str], task: str, header: tuple[str, ...], path: Path, number: int) -> LVURecord:
    if len(fields) != len(header):
        raise AnnotationError(path, f"line {number}: expected {len(header)} columns, got {len(fields)}")
    youtube_id, imdb_id = fields[-2], fields[-1]  # LVU's loaders take split()[-2] as the youtube id
    num_classes = LVU_TASKS[task]
    if num_classes:
        label = _parse_int(fields[0], "class_id", path, number)
        if label >= num_classes:
            problem = f"class id {label} out of range for {task}'s {num_classes} classes"
            raise AnnotationError(path, f"line {number}: {problem}")
        return LVURecord(youtube_id, imdb_id, label, fields[1], ())
    counts = tuple(
        _parse_int(value, column, path, number) for value, column in zip(fields[:-2], header[:-2], strict=True)
    )
    return LVURecord(youtube_id, imdb_id, _regression_target(task, counts, path, number), None, counts)


def _parse_int(value: str, column: str, path: Path, number: int) -> int:
    """A non-negative integer field; AnnotationError naming the line otherwise."""
    if not (value.isascii() and value.isdigit()):
        raise AnnotationError(path, f"line {number}: {column} {value!r} is not a non-negative integer")
    return int(value)


def _regression_target(task: str, counts: tuple[int, ...], path: Path, number: int) -> float:
    if task == "view_count":
        (views,) = counts
        if views == 0:
            raise AnnotationError(path, f"line {number}: view_count is 0, its log is undefined")
        return view_count_target(views)
    likes, dislikes = counts
    if likes + dislikes == 0:
        raise AnnotationError(path, f"line {number}: like_count + dislike_count is 0, the ratio is undefined")
    return like_ratio_target(likes, dislikes)
