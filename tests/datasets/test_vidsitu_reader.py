"""VidSitu reader on tiny hand-written annotation folders."""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hiermovie.datasets.vidsitu import (
    EVENTS,
    SPLITS,
    RoleFiller,
    arg_mapper,
    load_vidsitu,
)
from hiermovie.errors import AnnotationError, HiermovieError, InputFileError

CLIPS = ("v_abc_seg_0_10", "v_abc_seg_10_20")
ANNOTATION_FILES = {
    "train": "vsann_train_lb.json",
    "valid": "vsann_valid_lb.json",
    "testsrl": "vsann_testsrl_noann_lb.json",
    "testevrel": "vsann_testevrel_noann_lb.json",
}
VALID_VERBS = ["push.01"] * 6 + ["shove.01"] * 4  # 10 annotators


def _event(clip_id: str, ev: str, split: str) -> dict[str, Any]:
    event: dict[str, Any] = {"vid_seg_int": clip_id, "Verb": "push", "VerbID": "push.01"}
    if split != "testsrl":  # testsrl_noann gives only the verbs
        event["Arg_List"] = {"Scene of the Event": "3", "Arg0 (pusher)": "1", "Arg1 (thing pushed)": "2"}
        event["Args"] = {
            "Arg0 (pusher)": "the red circle",
            "Arg1 (thing pushed)": "a box",
            "Scene of the Event": "a room",
        }
    if split in ("train", "valid") and ev != "Ev3":
        event["EvRel"] = "Causes"
    return event


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1))


def write_vidsitu(root: Path, split: str) -> Path:
    """A valid two-clip split: 3 annotations per clip on valid and testevrel, else 1."""
    ann_dir = root / "vidsitu_annotations"
    _write_json(ann_dir / "split_files" / f"vseg_split_{split}_lb.json", list(CLIPS))
    if split in ("train", "valid"):
        vinfo = [{"vid_seg_int": clip_id, "name": "abc", "genres": ["Drama"]} for clip_id in CLIPS]
        if split == "valid":
            for info in vinfo:
                info["vbid_lst"] = {ev: list(VALID_VERBS) for ev in EVENTS}
        _write_json(ann_dir / "vinfo_files" / f"vinfo_{split}_lb.json", vinfo)
    if split in ANNOTATION_FILES:
        copies = 3 if split in ("valid", "testevrel") else 1
        records = [{ev: _event(clip_id, ev, split) for ev in EVENTS} for clip_id in CLIPS for _ in range(copies)]
        _write_json(ann_dir / "vseg_ann_files" / ANNOTATION_FILES[split], records)
    return root


def annotation_path(root: Path, split: str) -> Path:
    return root / "vidsitu_annotations" / "vseg_ann_files" / ANNOTATION_FILES[split]


def vinfo_path(root: Path, split: str) -> Path:
    return root / "vidsitu_annotations" / "vinfo_files" / f"vinfo_{split}_lb.json"


def split_path(root: Path, split: str) -> Path:
    return root / "vidsitu_annotations" / "split_files" / f"vseg_split_{split}_lb.json"


def edit_json(path: Path, change: Callable[[Any], Any]) -> None:
    data = json.loads(path.read_text())
    change(data)
    _write_json(path, data)


# ---------------------------------------------------------------- arg_mapper


@pytest.mark.parametrize(
    ("name", "role"),
    [
        ("Arg0 (pusher)", "Arg0"),
        ("Arg1 (thing pushed)", "Arg1"),
        ("Arg5 (instrument)", "Arg5"),
        ("Arg2", "Arg2"),
        ("Scene of the Event", "AScn"),
        ("ArgM (direction)", "ADir"),
        ("ArgM (purpose)", "APrp"),
        ("ArgM (manner)", "AMnr"),
        ("ArgM (location)", "ALoc"),
        ("ArgM (goal)", "AGol"),
        ("ArgM (manner, purpose)", "APrp"),  # senses are tried in VidSitu's order
    ],
)
def test_arg_mapper(name: str, role: str) -> None:
    assert arg_mapper(name) == role


@pytest.mark.parametrize(
    "name", ["ArgM (time)", "ArgM", "Arg6 (extra)", "Arg0(pusher)", "scene of the event", "Verb", ""]
)
def test_arg_mapper_rejects(name: str) -> None:
    with pytest.raises(ValueError, match="cannot map"):
        arg_mapper(name)


# ---------------------------------------------------------------- valid fixtures


def test_valid_split(tmp_path: Path) -> None:
    split = load_vidsitu(write_vidsitu(tmp_path, "valid"), "valid")
    assert len(split) == 2 and split.split == "valid" and split.root == tmp_path
    clip = split.clip("v_abc_seg_10_20")
    assert clip.ann_idx == 1 and split.clips[1] is clip
    assert clip.video_path == tmp_path / "vsitu_video_trimmed_dir" / "v_abc_seg_10_20.mp4"
    assert clip.info["genres"] == ["Drama"]
    assert clip.verb_ids == {ev: tuple(VALID_VERBS) for ev in EVENTS}
    assert len(clip.annotations) == 3
    first = clip.annotations[0].events
    assert set(first) == set(EVENTS)
    assert first["Ev1"].verb_id == "push.01" and first["Ev1"].verb == "push"
    assert first["Ev1"].relation == "Causes" and first["Ev3"].relation is None
    assert first["Ev2"].roles == (  # Arg_List position order, not dict order
        RoleFiller("Arg0 (pusher)", "Arg0", "the red circle"),
        RoleFiller("Arg1 (thing pushed)", "Arg1", "a box"),
        RoleFiller("Scene of the Event", "AScn", "a room"),
    )


def test_roles_in_arg_list_order_and_args_in_key_order(tmp_path: Path) -> None:
    # the training target (dat_loader) sorts the Arg_List keys by position, ties in Arg_List key order;
    # the evaluation (evl_fns) walks the Args keys in the file's order
    root = write_vidsitu(tmp_path, "valid")
    loc, loc2 = "ArgM (location)", "ArgM (location, second)"

    def reorder(data: list[dict[str, Any]]) -> None:
        event = data[0]["Ev1"]
        event["Args"] = {loc2: "a bench", "Scene of the Event": "a room", loc: "a park", "Arg0 (pusher)": "a man"}
        event["Arg_List"] = {"Arg0 (pusher)": "1", loc: "2", loc2: "2", "Scene of the Event": "0"}

    edit_json(annotation_path(root, "valid"), reorder)
    event = load_vidsitu(root, "valid").clips[0].annotations[0].events["Ev1"]
    assert [f.name for f in event.roles] == ["Scene of the Event", "Arg0 (pusher)", loc, loc2]
    assert [f.name for f in event.args] == [loc2, "Scene of the Event", loc, "Arg0 (pusher)"]
    assert sorted(event.args, key=lambda f: f.name) == sorted(event.roles, key=lambda f: f.name)
    assert event.args[0] == RoleFiller(loc2, "ALoc", "a bench")


def test_train_split_verbs_come_from_the_annotation(tmp_path: Path) -> None:
    video_dir = tmp_path / "videos"
    split = load_vidsitu(write_vidsitu(tmp_path, "train"), "train", video_dir=video_dir)
    clip = split.clips[0]
    assert clip.verb_ids == {ev: ("push.01",) for ev in EVENTS}
    assert len(clip.annotations) == 1 and clip.video_path == video_dir / "v_abc_seg_0_10.mp4"


def test_test_splits(tmp_path: Path) -> None:
    for split in ("testvb", "testsrl", "testevrel"):
        write_vidsitu(tmp_path, split)
    testvb = load_vidsitu(tmp_path, "testvb")
    assert [c.clip_id for c in testvb.clips] == list(CLIPS)
    assert testvb.clips[0].annotations == () and testvb.clips[0].info == {}
    assert testvb.clips[0].verb_ids == {ev: () for ev in EVENTS}

    srl_event = load_vidsitu(tmp_path, "testsrl").clips[0].annotations[0].events["Ev1"]
    assert srl_event.verb_id == "push.01" and srl_event.roles == () and srl_event.relation is None

    evrel_clip = load_vidsitu(tmp_path, "testevrel").clips[1]
    assert evrel_clip.verb_ids["Ev2"] == ("push.01",) * 3
    event = evrel_clip.annotations[2].events["Ev2"]
    assert [r.role for r in event.roles] == ["Arg0", "Arg1", "AScn"] and event.relation is None


def test_check_videos(tmp_path: Path) -> None:
    root = write_vidsitu(tmp_path, "train")
    video_dir = root / "vsitu_video_trimmed_dir"
    video_dir.mkdir()
    (video_dir / "v_abc_seg_0_10.mp4").write_bytes(b"x")
    load_vidsitu(root, "train")  # videos are not checked by default
    with pytest.raises(InputFileError) as info:
        load_vidsitu(root, "train", check_videos=True)
    assert info.value.path == video_dir / "v_abc_seg_10_20.mp4"
    assert "1 of 2" in info.value.problem
    (video_dir / "v_abc_seg_10_20.mp4").write_bytes(b"x")
    assert len(load_vidsitu(root, "train", check_videos=True)) == 2


def test_unknown_split_and_clip(tmp_path: Path) -> None:
    with pytest.raises(HiermovieError, match="unknown VidSitu split 'test'.*" + ", ".join(SPLITS)):
        load_vidsitu(tmp_path, "test")
    split = load_vidsitu(write_vidsitu(tmp_path, "train"), "train")
    with pytest.raises(HiermovieError, match="v_nope_seg_0_10"):
        split.clip("v_nope_seg_0_10")


def test_missing_file(tmp_path: Path) -> None:
    root = write_vidsitu(tmp_path, "valid")
    annotation_path(root, "valid").unlink()
    with pytest.raises(InputFileError, match="file not found") as info:
        load_vidsitu(root, "valid")
    assert info.value.path == annotation_path(root, "valid")


# ---------------------------------------------------------------- bad annotation records
# Valid split: records 0-2 annotate CLIPS[0], records 3-5 annotate CLIPS[1].


def _rename_role(data: list[dict[str, Any]]) -> None:
    event = data[4]["Ev5"]
    event["Args"]["ArgM (time)"] = event["Args"].pop("Scene of the Event")
    event["Arg_List"]["ArgM (time)"] = event["Arg_List"].pop("Scene of the Event")


def _move_record(data: list[dict[str, Any]]) -> None:
    for event in data[0].values():
        event["vid_seg_int"] = "v_zzz_seg_0_10"


BAD_RECORDS = {
    "missing event": (lambda d: d[1].pop("Ev4"), "record 1 (v_abc_seg_0_10): missing key 'Ev4'"),
    "missing verb id": (
        lambda d: d[3]["Ev2"].pop("VerbID"),
        "record 3 (v_abc_seg_10_20), Ev2: missing key 'VerbID'",
    ),
    "missing verb": (
        lambda d: d[3]["Ev1"].pop("Verb"),
        "record 3 (v_abc_seg_10_20), Ev1: missing key 'Verb'",
    ),
    "bad verb id": (
        lambda d: d[0]["Ev1"].update(VerbID="push"),
        "record 0 (v_abc_seg_0_10), Ev1: verb id 'push'",
    ),
    "verb id with space": (lambda d: d[0]["Ev1"].update(VerbID="pu sh.01"), "record 0 (v_abc_seg_0_10), Ev1"),
    "bad relation": (
        lambda d: d[2]["Ev5"].update(EvRel="Null"),
        "record 2 (v_abc_seg_0_10), Ev5: EvRel 'Null'",
    ),
    "missing relation": (
        lambda d: d[2]["Ev4"].pop("EvRel"),
        "record 2 (v_abc_seg_0_10), Ev4: missing key 'EvRel'",
    ),
    "args differ": (
        lambda d: d[5]["Ev3"]["Args"].pop("Arg1 (thing pushed)"),
        "record 5 (v_abc_seg_10_20), Ev3: Args keys",
    ),
    "unmappable role": (_rename_role, "record 4 (v_abc_seg_10_20), Ev5: cannot map role name 'ArgM (time)'"),
    "bad position": (
        lambda d: d[1]["Ev2"]["Arg_List"].update({"Arg0 (pusher)": "first"}),
        "record 1 (v_abc_seg_0_10), Ev2: Arg_List position 'first'",
    ),
    "record not an object": (lambda d: d.insert(2, ["Ev1"]), "record 2: expected an object, got list"),
    "event not an object": (
        lambda d: d[0].update(Ev3="push"),
        "record 0 (v_abc_seg_0_10): 'Ev3' should be dict",
    ),
    "no clip id": (lambda d: d[0]["Ev1"].pop("vid_seg_int"), "record 0, Ev1: missing key 'vid_seg_int'"),
    "clip ids disagree": (
        lambda d: d[3]["Ev4"].update(vid_seg_int="v_abc_seg_0_10"),
        "record 3 (v_abc_seg_10_20), Ev4: vid_seg_int",
    ),
    "clip not in split": (_move_record, "record 0 (v_zzz_seg_0_10): clip is not in the valid split file"),
    "fewer than 3 annotations": (
        lambda d: d.pop(4),
        "clip 1 (v_abc_seg_10_20): 2 annotations, expected at least 3",
    ),
}


@pytest.mark.parametrize("case", BAD_RECORDS)
def test_bad_valid_annotation(tmp_path: Path, case: str) -> None:
    change, message = BAD_RECORDS[case]
    root = write_vidsitu(tmp_path, "valid")
    edit_json(annotation_path(root, "valid"), change)
    with pytest.raises(AnnotationError) as info:
        load_vidsitu(root, "valid")
    assert info.value.path == annotation_path(root, "valid")
    assert message in str(info.value) and "vsann_valid_lb.json" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("split", "change", "message"),
    [
        ("train", lambda d: d.pop(1), "clip 1 (v_abc_seg_10_20): 0 annotations, expected at least 1"),
        ("testsrl", lambda d: d.pop(0), "clip 0 (v_abc_seg_0_10): 0 annotations"),
        (
            "testsrl",
            lambda d: d[1]["Ev5"].pop("VerbID"),
            "record 1 (v_abc_seg_10_20), Ev5: missing key 'VerbID'",
        ),
        (
            "testevrel",
            lambda d: d[0]["Ev2"].pop("Args"),
            "record 0 (v_abc_seg_0_10), Ev2: missing key 'Args'",
        ),
    ],
)
def test_bad_annotation_other_splits(tmp_path: Path, split: str, change: Callable[[Any], Any], message: str) -> None:
    root = write_vidsitu(tmp_path, split)
    edit_json(annotation_path(root, split), change)
    with pytest.raises(AnnotationError) as info:
        load_vidsitu(root, split)
    assert info.value.path == annotation_path(root, split) and message in str(info.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d[1]["vbid_lst"].pop("Ev3"), "record 1 (v_abc_seg_10_20), vbid_lst: missing key 'Ev3'"),
        (
            lambda d: d[0]["vbid_lst"].update(Ev1=VALID_VERBS[:8]),
            "record 0 (v_abc_seg_0_10), vbid_lst Ev1: 8 verbs",
        ),
        (
            lambda d: d[0]["vbid_lst"]["Ev2"].append("push"),
            "record 0 (v_abc_seg_0_10), vbid_lst Ev2: verb id 'push'",
        ),
        (lambda d: d[0].pop("vbid_lst"), "record 0 (v_abc_seg_0_10): missing key 'vbid_lst'"),
        (lambda d: d.pop(1), "clip 1 (v_abc_seg_10_20) of the split has no entry"),
        (lambda d: d.append(dict(d[0])), "record 2 (v_abc_seg_0_10): duplicate clip id"),
        (lambda d: d[0].pop("vid_seg_int"), "record 0: missing key 'vid_seg_int'"),
    ],
)
def test_bad_vinfo(tmp_path: Path, change: Callable[[Any], Any], message: str) -> None:
    root = write_vidsitu(tmp_path, "valid")
    edit_json(vinfo_path(root, "valid"), change)
    with pytest.raises(AnnotationError) as info:
        load_vidsitu(root, "valid")
    assert info.value.path == vinfo_path(root, "valid") and message in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('["v_abc_seg_0_10", "v_abc_seg_10_20"', "invalid JSON at line 1, column"),
        ('{"clips": []}', "expected a JSON list at the top level, got dict"),
        ('["v_abc_seg_0_10", 7]', "item 1: expected a clip id string, got 7"),
        ('["v_abc_seg_0_10", "v_abc_seg_0_10"]', "item 1: duplicate clip id 'v_abc_seg_0_10'"),
    ],
)
def test_bad_split_file(tmp_path: Path, text: str, message: str) -> None:
    root = write_vidsitu(tmp_path, "testvb")
    split_path(root, "testvb").write_text(text)
    with pytest.raises(AnnotationError) as info:
        load_vidsitu(root, "testvb")
    assert info.value.path == split_path(root, "testvb") and message in str(info.value)


def test_json_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    root = write_vidsitu(tmp_path, "train")
    path = annotation_path(root, "train")
    path.write_text('[\n {"Ev1": {"Verb": "push",}}\n]')
    with pytest.raises(AnnotationError, match=r"vsann_train_lb.json: invalid JSON at line 2, column 26"):
        load_vidsitu(root, "train")
