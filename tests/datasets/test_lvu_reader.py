"""LVU 1.0 label files: the real files in shared/data, and tiny hand-written ones for bad input."""

import math
from pathlib import Path

import pytest

from hiermovie.datasets.lvu import (
    LIKE_RATIO_SHIFT,
    LVU_SPLITS,
    LVU_TASKS,
    VIEW_COUNT_SHIFT,
    class_names,
    find_video,
    is_regression,
    like_ratio_target,
    load_lvu_task,
    view_count_target,
)
from hiermovie.errors import AnnotationError, HiermovieError, InputFileError

# Rows per split (train, val, test) of LVU 1.0, counted in md-mohaiminul/ViS4mer:data/lvu_1.0
ROW_COUNTS = {
    "relationship": (149, 53, 42),
    "way_speaking": (939, 205, 201),
    "scene": (557, 120, 86),
    "director": (680, 163, 107),
    "writer": (769, 174, 168),
    "year": (770, 165, 143),
    "genre": (3063, 597, 647),
    "like_ratio": (658, 142, 140),
    "view_count": (577, 124, 126),
}
CLASSIFICATION_HEADER = "class_id class_name youtube_id imdb_id\n"


def write_task(root: Path, task: str, split: str, text: str) -> Path:
    path = root / task / f"{split}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_task_table() -> None:
    assert list(LVU_TASKS) == list(ROW_COUNTS)
    assert LVU_TASKS == {
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
    assert [task for task in LVU_TASKS if is_regression(task)] == ["like_ratio", "view_count"]
    with pytest.raises(HiermovieError, match="unknown LVU task 'genres'.*relationship, way_speaking"):
        is_regression("genres")


def test_targets() -> None:
    # LVU src/run.py: ln(views) - 11.764..., 10 * likes / (likes + dislikes) - 9.138...
    assert view_count_target(1000) == pytest.approx(math.log(1000) - 11.76425435683139)
    assert like_ratio_target(9, 1) == pytest.approx(9.0 - 9.138220535629456)
    assert (VIEW_COUNT_SHIFT, LIKE_RATIO_SHIFT) == (11.76425435683139, 9.138220535629456)


# ---------------------------------------------------------------- the real files


@pytest.mark.parametrize("task", list(LVU_TASKS))
def test_real_files(real_lvu: Path, task: str) -> None:
    for split, expected in zip(LVU_SPLITS, ROW_COUNTS[task], strict=True):
        records = load_lvu_task(real_lvu, task, split)
        lines = (real_lvu / task / f"{split}.csv").read_text().splitlines()
        assert len(records) == expected == len(lines) - 1
        assert len({r.youtube_id for r in records}) == len(records)
        assert all(r.imdb_id.startswith("tt") for r in records)
        if is_regression(task):
            assert all(r.class_name is None for r in records)
        else:
            assert all(0 <= r.label < LVU_TASKS[task] and r.raw == () for r in records)
        first = lines[1].split()
        assert (records[0].youtube_id, records[0].imdb_id) == (first[-2], first[-1])


def test_real_regression_targets(real_lvu: Path) -> None:
    views = load_lvu_task(real_lvu, "view_count", "train")[0]
    assert (views.youtube_id, views.raw) == ("gFKba_Esjt0", (100124,))
    assert views.label == pytest.approx(math.log(100124) - 11.76425435683139)
    likes = load_lvu_task(real_lvu, "like_ratio", "val")[0]
    assert (likes.youtube_id, likes.raw) == ("87IqS4kQqgE", (100410, 3572))
    assert likes.label == pytest.approx(10 * 100410 / (100410 + 3572) - 9.138220535629456)


def test_real_class_names(real_lvu: Path) -> None:
    assert class_names(real_lvu, "relationship") == {
        0: "friend",
        1: "ex_boyfriend_ex_girlfriend",
        2: "husband_wife",
        3: "boyfriend_girlfriend",
    }
    assert 2 not in class_names(real_lvu, "director") and 3 not in class_names(real_lvu, "director")
    assert class_names(real_lvu, "writer")[0] == "\\N"
    assert list(class_names(real_lvu, "year").values())[:2] == ["1930", "1940"]
    with pytest.raises(HiermovieError, match="regression"):
        class_names(real_lvu, "view_count")


# ---------------------------------------------------------------- hand-written files


def test_small_files(tmp_path: Path) -> None:
    write_task(tmp_path, "scene", "train", CLASSIFICATION_HEADER + "0 office a1 tt01\n\n5 restaurant a2 tt02\n")
    write_task(tmp_path, "scene", "val", CLASSIFICATION_HEADER + "0 office b1 tt03\n")
    write_task(tmp_path, "scene", "test", CLASSIFICATION_HEADER + "3 hotel c1 tt04\n")
    records = load_lvu_task(tmp_path, "scene", "train")
    assert [(r.youtube_id, r.imdb_id, r.label, r.class_name) for r in records] == [
        ("a1", "tt01", 0, "office"),
        ("a2", "tt02", 5, "restaurant"),
    ]
    assert class_names(tmp_path, "scene") == {0: "office", 3: "hotel", 5: "restaurant"}

    write_task(tmp_path, "like_ratio", "val", "like_count dislike_count youtube_id imdb_id\n30 10 x1 tt1\n")
    (record,) = load_lvu_task(tmp_path, "like_ratio", "val")
    assert record.raw == (30, 10) and record.class_name is None
    assert record.label == pytest.approx(7.5 - LIKE_RATIO_SHIFT)


def test_class_name_conflict(tmp_path: Path) -> None:
    write_task(tmp_path, "scene", "train", CLASSIFICATION_HEADER + "0 office a1 tt01\n")
    write_task(tmp_path, "scene", "val", CLASSIFICATION_HEADER + "0 airport b1 tt03\n")
    write_task(tmp_path, "scene", "test", CLASSIFICATION_HEADER + "3 hotel c1 tt04\n")
    with pytest.raises(AnnotationError, match=r"val.csv: video b1: class 0 is named 'airport', but 'office'"):
        class_names(tmp_path, "scene")


@pytest.mark.parametrize(
    ("task", "text", "message"),
    [
        ("scene", "", "empty file"),
        ("scene", CLASSIFICATION_HEADER, "no records after the header"),
        ("scene", "class_id youtube_id imdb_id\n0 a1 tt1\n", "line 1: header 'class_id youtube_id imdb_id'"),
        ("view_count", CLASSIFICATION_HEADER + "0 office a1 tt1\n", "line 1: header"),
        ("scene", CLASSIFICATION_HEADER + "0 office a1 tt1\n1 a2 tt2\n", "line 3: expected 4 columns, got 3"),
        ("scene", CLASSIFICATION_HEADER + "0 office a1 tt1 extra\n", "line 2: expected 4 columns, got 5"),
        (
            "scene",
            CLASSIFICATION_HEADER + "x office a1 tt1\n",
            "line 2: class_id 'x' is not a non-negative integer",
        ),
        ("scene", CLASSIFICATION_HEADER + "-1 office a1 tt1\n", "line 2: class_id '-1'"),
        (
            "scene",
            CLASSIFICATION_HEADER + "6 office a1 tt1\n",
            "line 2: class id 6 out of range for scene's 6 classes",
        ),
        (
            "scene",
            CLASSIFICATION_HEADER + "0 office a1 tt1\n1 school a1 tt2\n",
            "line 3: youtube id a1 already on line 2",
        ),
        (
            "like_ratio",
            "like_count dislike_count youtube_id imdb_id\n0 0 a1 tt1\n",
            "line 2: like_count + dislike_count",
        ),
        (
            "like_ratio",
            "like_count dislike_count youtube_id imdb_id\n5 1.5 a1 tt1\n",
            "line 2: dislike_count '1.5'",
        ),
        (
            "view_count",
            "view_count youtube_id imdb_id\n12 a1 tt1\nmany a2 tt2\n",
            "line 3: view_count 'many'",
        ),
        ("view_count", "view_count youtube_id imdb_id\n0 a1 tt1\n", "line 2: view_count is 0"),
    ],
)
def test_bad_files(tmp_path: Path, task: str, text: str, message: str) -> None:
    path = write_task(tmp_path, task, "val", text)
    with pytest.raises(AnnotationError) as info:
        load_lvu_task(tmp_path, task, "val")
    assert info.value.path == path and message in str(info.value) and "val.csv" in str(info.value)


def test_missing_file_and_bad_names(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="file not found") as info:
        load_lvu_task(tmp_path, "genre", "test")
    assert info.value.path == tmp_path / "genre" / "test.csv"
    with pytest.raises(HiermovieError, match="unknown LVU split 'valid'; expected one of train, val, test"):
        load_lvu_task(tmp_path, "genre", "valid")
    with pytest.raises(HiermovieError, match="unknown LVU task 'likes'"):
        load_lvu_task(tmp_path, "likes", "val")


def test_find_video(tmp_path: Path) -> None:
    (tmp_path / "-abc.webm").write_bytes(b"x")
    (tmp_path / "xyz.mkv").write_bytes(b"x")
    (tmp_path / "xyz.mp4").write_bytes(b"x")
    (tmp_path / "other.avi").write_bytes(b"x")
    assert find_video(tmp_path, "-abc") == tmp_path / "-abc.webm"
    assert find_video(tmp_path, "xyz") == tmp_path / "xyz.mp4"  # .mp4 is tried first
    assert find_video(tmp_path, "other") is None
    assert find_video(tmp_path / "absent", "xyz") is None
