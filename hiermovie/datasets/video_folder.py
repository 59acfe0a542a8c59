"""Labelled videos for backbone pretraining, Kinetics style.

A source is either a folder of class subfolders (`label_name/video.mp4`) or a list file with one video
per line: `path label` (pytorchvideo LabeledVideoPaths style) or a CSV with the header `path,label`.
"""

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hiermovie.errors import AnnotationError, InputFileError

VIDEO_EXTENSIONS = (".mp4", ".mkv", ".webm", ".avi")


@dataclass(frozen=True)
class LabeledVideo:
    path: Path
    label: int
    label_name: str


def load_video_folder(source: Path) -> list[LabeledVideo]:
    """Videos and labels from a folder of class subfolders or from a list file.

    Class names number 0..C-1 in sorted order. In a list file, paths are relative to the file's folder
    and labels are class ids if all of them are integers, else class names numbered in sorted order.
    """
    source = Path(source)
    if not source.exists():
        raise InputFileError(source, "not found")
    return _from_class_folders(source) if source.is_dir() else _from_list_file(source)


def label_names(videos: Sequence[LabeledVideo]) -> list[str]:
    """Class names indexed by label; a label no video carries is named by its number."""
    names: dict[int, str] = {}
    for video in videos:
        known = names.setdefault(video.label, video.label_name)
        if known != video.label_name:
            raise ValueError(f"label {video.label} is named both {known!r} and {video.label_name!r}")
    return [names.get(label, str(label)) for label in range(max(names, default=-1) + 1)]


def _from_class_folders(root: Path) -> list[LabeledVideo]:
    # torchvision DatasetFolder convention: sorted class folder names -> 0..C-1
    classes = sorted(folder.name for folder in root.iterdir() if folder.is_dir() and not folder.name.startswith("."))
    if not classes:
        raise InputFileError(root, "no class subfolders")
    videos = []
    for label, name in enumerate(classes):
        files = sorted(
            path for path in (root / name).iterdir() if path.is_file() and path.suffix.lower() in VIDEO_EXTENSIONS
        )
        if not files:
            raise InputFileError(root / name, f"class folder has no videos ({', '.join(VIDEO_EXTENSIONS)})")
        videos += [LabeledVideo(path=path, label=label, label_name=name) for path in files]
    return videos


def _from_list_file(path: Path) -> list[LabeledVideo]:
    rows = _read_rows(path)
    if not rows:
        raise AnnotationError(path, "no videos listed")
    texts = [text for _, _, text in rows]
    if all(text.isascii() and text.isdigit() for text in texts):  # class ids, kept as given
        classes = {text: (int(text), str(int(text))) for text in texts}
    else:  # class names, numbered in sorted order like class folders
        classes = {text: (index, text) for index, text in enumerate(sorted(set(texts)))}
    videos = []
    for number, video, text in rows:
        video_path = path.parent / video  # an absolute `video` replaces the folder
        if not video_path.is_file():
            raise AnnotationError(path, f"line {number}: video {video_path} not found")
        label, name = classes[text]
        videos.append(LabeledVideo(path=video_path, label=label, label_name=name))
    return videos


def _read_rows(path: Path) -> list[tuple[int, str, str]]:
    """(line number, video path, label) for each non-blank line after the header, if any."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise AnnotationError(path, "not UTF-8 text") from None
    numbered = [(number, line.strip()) for number, line in enumerate(lines, start=1) if line.strip()]
    if not numbered:
        raise AnnotationError(path, "empty file")

    rows = []
    if [field.strip() for field in numbered[0][1].split(",")] == ["path", "label"]:  # CSV with a header
        for number, line in numbered[1:]:
            fields = [field.strip() for field in next(csv.reader([line]))]
            if len(fields) != 2 or not all(fields):
                raise AnnotationError(path, f"line {number}: expected 'path,label', got {line!r}")
            rows.append((number, fields[0], fields[1]))
        return rows
    for number, line in numbered:
        # pytorchvideo LabeledVideoPaths.from_csv: the label is the last whitespace-separated field
        fields = line.rsplit(maxsplit=1)
        if len(fields) != 2:
            raise AnnotationError(path, f"line {number}: expected 'path label', got {line!r}")
        rows.append((number, fields[0], fields[1]))
    return rows
