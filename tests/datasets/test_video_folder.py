"""Labelled video sources for backbone pretraining: class folders and list files (no decoding)."""

from pathlib import Path

import pytest

from hiermovie.datasets.video_folder import LabeledVideo, label_names, load_video_folder
from hiermovie.errors import AnnotationError, InputFileError


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


def test_class_folders(tmp_path: Path) -> None:
    root = tmp_path / "kinetics"
    touch(root / "walking" / "b.mp4")
    touch(root / "walking" / "a.MKV")
    touch(root / "walking" / "notes.txt")  # not a video: ignored
    touch(root / "archery" / "c.avi")
    touch(root / "archery" / "d.webm")
    touch(root / ".cache" / "e.mp4")  # hidden folder: not a class
    touch(root / "loose.mp4")  # videos must sit in a class folder
    videos = load_video_folder(root)
    assert [(v.path.name, v.label, v.label_name) for v in videos] == [
        ("c.avi", 0, "archery"),
        ("d.webm", 0, "archery"),
        ("a.MKV", 1, "walking"),
        ("b.mp4", 1, "walking"),
    ]
    assert label_names(videos) == ["archery", "walking"]


def test_space_separated_list(tmp_path: Path) -> None:
    touch(tmp_path / "clips" / "a b.mp4")
    absolute = touch(tmp_path / "elsewhere" / "c.mp4")
    listing = tmp_path / "clips" / "train.txt"
    listing.write_text(f"a b.mp4 3\n\n{absolute} 0\n")
    videos = load_video_folder(listing)
    assert videos == [
        LabeledVideo(tmp_path / "clips" / "a b.mp4", 3, "3"),
        LabeledVideo(absolute, 0, "0"),
    ]
    assert label_names(videos) == ["0", "1", "2", "3"]  # unused ids are named by their number


def test_csv_list_with_names(tmp_path: Path) -> None:
    for name in ("x.mp4", "y.mp4", "z.mp4"):
        touch(tmp_path / "v" / name)
    listing = tmp_path / "train.csv"
    listing.write_text("path,label\nv/x.mp4,walking\nv/y.mp4, archery\nv/z.mp4,walking\n")
    videos = load_video_folder(listing)
    assert [(v.path, v.label, v.label_name) for v in videos] == [
        (tmp_path / "v" / "x.mp4", 1, "walking"),
        (tmp_path / "v" / "y.mp4", 0, "archery"),
        (tmp_path / "v" / "z.mp4", 1, "walking"),
    ]


def test_label_names_conflict() -> None:
    videos = [LabeledVideo(Path("a.mp4"), 0, "run"), LabeledVideo(Path("b.mp4"), 0, "walk")]
    with pytest.raises(ValueError, match="label 0 is named both 'run' and 'walk'"):
        label_names(videos)
    assert label_names([]) == []


def test_bad_sources(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="not found"):
        load_video_folder(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFileError, match="no class subfolders"):
        load_video_folder(tmp_path / "empty")
    touch(tmp_path / "folders" / "run" / "a.mp4")
    touch(tmp_path / "folders" / "walk" / "readme.txt")
    with pytest.raises(InputFileError, match="class folder has no videos") as info:
        load_video_folder(tmp_path / "folders")
    assert info.value.path == tmp_path / "folders" / "walk"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty file"),
        ("\n  \n", "empty file"),
        ("path,label\n", "no videos listed"),
        ("a.mp4 1\nb.mp4\n", "line 2: expected 'path label', got 'b.mp4'"),
        ("path,label\na.mp4,1\nb.mp4,1,2\n", "line 3: expected 'path,label'"),
        ("path,label\n\na.mp4,\n", "line 3: expected 'path,label'"),
        ("a.mp4 1\nmissing.mp4 2\n", "line 2: video"),
    ],
)
def test_bad_list_files(tmp_path: Path, text: str, message: str) -> None:
    touch(tmp_path / "a.mp4")
    touch(tmp_path / "b.mp4")
    listing = tmp_path / "list.txt"
    listing.write_text(text)
    with pytest.raises(AnnotationError) as info:
        load_video_folder(listing)
    assert info.value.path == listing and message in str(info.value) and "list.txt" in str(info.value)
