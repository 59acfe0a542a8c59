"""Reader for VidSitu annotations (Sadhu et al., CVPR 2021), used for real data and our synthetic benchmark.

Layout under a root folder, exactly as VidSitu's `vidsitu_data.zip` unpacks:

    vidsitu_annotations/split_files/vseg_split_{split}_lb.json   clip ids "v_{ytid}_seg_{start}_{end}"
    vidsitu_annotations/vinfo_files/vinfo_{train,valid}_lb.json  one metadata dict per clip
    vidsitu_annotations/vseg_ann_files/vsann_*.json              one dict per annotator and clip
    vsitu_video_trimmed_dir/{clip_id}.mp4                        10-second clips

A clip's `ann_idx` is its index in the split file; VidSitu's evaluation keys predictions by it.
"""

import json
import re
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

from hiermovie.errors import AnnotationError, HiermovieError, InputFileError

EVENTS = ("Ev1", "Ev2", "Ev3", "Ev4", "Ev5")
RELATIONS = ("Causes", "Reaction To", "Enables", "NoRel")  # EvRel of Ev1, Ev2, Ev4, Ev5: relation to Ev3
SPLITS = ("train", "valid", "testvb", "testsrl", "testevrel")
EVALUATED_ROLES = ("Arg0", "Arg1", "Arg2", "ALoc", "AScn")  # VidSitu evl_fns scores only these

# Annotation file per split; testvb ships only its split file.
_ANNOTATION_FILES = {
    "train": "vsann_train_lb.json",
    "valid": "vsann_valid_lb.json",
    "testsrl": "vsann_testsrl_noann_lb.json",
    "testevrel": "vsann_testevrel_noann_lb.json",
}
_VINFO_SPLITS = ("train", "valid")
_ROLE_SPLITS = ("train", "valid", "testevrel")  # testsrl_noann gives only the verbs
_RELATION_SPLITS = ("train", "valid")  # the test files hide EvRel
_MIN_VALID_ANNOTATIONS = 3  # VidSitu evl_fns asserts >= 3 annotations per valid clip
_MIN_VALID_VERBS = 9  # VidSitu dat_loader asserts >= 9 verbs in vbid_lst (10 annotators)
_VERB_ID = re.compile(r"^[^\s.]+\.\d+$")  # PropBank sense, e.g. "push.01"
_CLIP_ID = re.compile(r"^v_(.+)_seg_\d+_\d+$")  # "v_{YouTube id}_seg_{start}_{end}"
_ARGM_SENSES = {"direction": "ADir", "purpose": "APrp", "manner": "AMnr", "location": "ALoc", "goal": "AGol"}

T = TypeVar("T")


def source_video(video_id: str) -> str:
    """The source video of a cached video: a VidSitu clip's YouTube id, any other id as it is.

    VidSitu cuts several 10-second clips from one movie ("v_BQO5Xy2ebhs_seg_20_30" -> "BQO5Xy2ebhs"), the id
    LVU names its movies by; clips of one source are near-duplicates, never negatives of each other.
    """
    match = _CLIP_ID.match(video_id)
    return match.group(1) if match else video_id


def arg_mapper(role_name: str) -> str:
    """Map a free-form role key such as "Arg0 (pusher)" to VidSitu's short role name ("Arg0")."""
    # VidSitu dat_utils.arg_mapper: the first word for numbered args, a fixed name for the scene,
    # and the first matching sense word for "ArgM (...)" modifiers
    first = role_name.split(" ")[0]
    if first in ("Arg0", "Arg1", "Arg2", "Arg3", "Arg4", "Arg5"):
        return first
    if role_name == "Scene of the Event":
        return "AScn"
    if first == "ArgM":
        for sense, role in _ARGM_SENSES.items():
            if sense in role_name[len("ArgM") :]:
                return role
    raise ValueError(f"cannot map VidSitu role name {role_name!r}")


@dataclass(frozen=True)
class RoleFiller:
    name: str  # raw role key, e.g. "Arg0 (pusher)"
    role: str  # arg_mapper(name), e.g. "Arg0"
    text: str  # the annotator's phrase, e.g. "the red circle"


@dataclass(frozen=True)
class EventAnnotation:
    """One event of an annotation. Its role fillers come in two orders, each where VidSitu's code reads it:
    `roles` as `dat_loader` builds the training target (Arg_List positions), `args` as `evl_fns` scores
    (the `Args` object's key order). With a role name that maps twice (two "ArgM (location ...)" keys), the
    order decides which filler a coreference mention stands for."""

    verb: str
    verb_id: str  # e.g. "push.01"
    roles: tuple[RoleFiller, ...]  # in Arg_List position order (ties in Arg_List key order); () if no roles
    args: tuple[RoleFiller, ...]  # the same fillers in the Args object's key order
    relation: str | None  # one of RELATIONS; None for Ev3 and for the test files


@dataclass(frozen=True)
class ClipAnnotation:
    """One annotator's annotation of the five events of a clip."""

    events: dict[str, EventAnnotation]  # keys EVENTS


@dataclass(frozen=True)
class VidSituClip:
    clip_id: str
    ann_idx: int  # index in the split file
    video_path: Path
    info: dict[str, Any]  # vinfo entry; {} for the test splits
    verb_ids: dict[str, tuple[str, ...]]  # per event: vinfo vbid_lst on valid, else the annotations' VerbIDs
    annotations: tuple[ClipAnnotation, ...]  # file order


@dataclass(frozen=True)
class VidSituSplit:
    root: Path
    split: str
    clips: tuple[VidSituClip, ...]  # split-file order, so clips[i].ann_idx == i

    @cached_property
    def _by_id(self) -> dict[str, VidSituClip]:
        return {clip.clip_id: clip for clip in self.clips}

    def clip(self, clip_id: str) -> VidSituClip:
        """The clip with this id; HiermovieError if the split has none."""
        try:
            return self._by_id[clip_id]
        except KeyError:
            raise HiermovieError(f"clip {clip_id!r} is not in the VidSitu {self.split} split") from None

    def __len__(self) -> int:
        return len(self.clips)


def vidsitu_root(data: Path) -> Path:
    """The VidSitu folder of `data`: an embedded-benchmark folder (its vidsitu/) or a VidSitu root itself."""
    data = Path(data)
    for root in (data, data / "vidsitu"):
        if (root / "vidsitu_annotations").is_dir():
            return root
    raise HiermovieError(f"{data}: no vidsitu_annotations/ here or in vidsitu/ (give the VidSitu or benchmark folder)")


def annotation_file(root: Path, split: str) -> Path:
    """The annotation file (vsann) of a split under a VidSitu root; testvb has none (KeyError)."""
    return Path(root) / "vidsitu_annotations" / "vseg_ann_files" / _ANNOTATION_FILES[split]


def load_vidsitu(root: Path, split: str, video_dir: Path | None = None, check_videos: bool = False) -> VidSituSplit:
    """Read and validate one VidSitu split; videos are looked up in `video_dir` (default: the VidSitu one)."""
    if split not in SPLITS:
        raise HiermovieError(f"unknown VidSitu split {split!r}; expected one of {', '.join(SPLITS)}")
    root = Path(root)
    ann_dir = root / "vidsitu_annotations"
    clip_ids = _read_split_file(ann_dir / "split_files" / f"vseg_split_{split}_lb.json")

    infos: dict[str, dict[str, Any]] = {}
    if split in _VINFO_SPLITS:
        vinfo_path = ann_dir / "vinfo_files" / f"vinfo_{split}_lb.json"
        infos = _read_vinfo(vinfo_path, split)
        for ann_idx, clip_id in enumerate(clip_ids):
            if clip_id not in infos:
                raise AnnotationError(vinfo_path, f"clip {ann_idx} ({clip_id}) of the split has no entry")

    grouped: dict[str, list[ClipAnnotation]] = {}
    if split in _ANNOTATION_FILES:
        ann_path = annotation_file(root, split)
        grouped = _read_annotations(ann_path, split, set(clip_ids))
        minimum = _MIN_VALID_ANNOTATIONS if split == "valid" else 1
        for ann_idx, clip_id in enumerate(clip_ids):
            count = len(grouped.get(clip_id, []))
            if count < minimum:
                raise AnnotationError(
                    ann_path, f"clip {ann_idx} ({clip_id}): {count} annotations, expected at least {minimum}"
                )

    video_dir = Path(video_dir) if video_dir is not None else root / "vsitu_video_trimmed_dir"
    clips = []
    for ann_idx, clip_id in enumerate(clip_ids):
        annotations = tuple(grouped.get(clip_id, ()))
        if split == "valid":  # VidSitu scores valid verbs against the 10 annotators' vbid_lst only
            verb_ids = {ev: tuple(infos[clip_id]["vbid_lst"][ev]) for ev in EVENTS}
        else:
            verb_ids = {ev: tuple(ann.events[ev].verb_id for ann in annotations) for ev in EVENTS}
        clips.append(
            VidSituClip(
                clip_id=clip_id,
                ann_idx=ann_idx,
                video_path=video_dir / f"{clip_id}.mp4",
                info=infos.get(clip_id, {}),
                verb_ids=verb_ids,
                annotations=annotations,
            )
        )

    if check_videos:
        missing = [clip.video_path for clip in clips if not clip.video_path.is_file()]
        if missing:
            problem = f"video not found ({len(missing)} of {len(clips)} {split} videos missing)"
            raise InputFileError(missing[0], problem)
    return VidSituSplit(root=root, split=split, clips=tuple(clips))


def _read_json_list(path: Path) -> list[Any]:
    """The top-level JSON list in `path`, with file errors turned into one-line messages."""
    if not path.is_file():
        raise InputFileError(path, "file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        problem = f"invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}"
        raise AnnotationError(path, problem) from None
    except UnicodeDecodeError:
        raise AnnotationError(path, "not UTF-8 text") from None
    if not isinstance(data, list):
        raise AnnotationError(path, f"expected a JSON list at the top level, got {type(data).__name__}")
    return data


def _require(record: dict[str, Any], key: str, kind: type[T], path: Path, where: str) -> T:
    """record[key], checked to exist and to be of type `kind`."""
    if key not in record:
        raise AnnotationError(path, f"{where}: missing key {key!r}")
    value = record[key]
    if not isinstance(value, kind):
        raise AnnotationError(path, f"{where}: {key!r} should be {kind.__name__}, got {type(value).__name__}")
    return value


def _check_verb_id(verb_id: str, path: Path, where: str) -> None:
    if not _VERB_ID.match(verb_id):
        raise AnnotationError(path, f"{where}: verb id {verb_id!r} is not of the form name.NN")


def _read_split_file(path: Path) -> list[str]:
    clip_ids = _read_json_list(path)
    seen: set[str] = set()
    for index, clip_id in enumerate(clip_ids):
        if not isinstance(clip_id, str) or not clip_id:
            raise AnnotationError(path, f"item {index}: expected a clip id string, got {clip_id!r}")
        if clip_id in seen:
            raise AnnotationError(path, f"item {index}: duplicate clip id {clip_id!r}")
        seen.add(clip_id)
    return clip_ids


def _read_vinfo(path: Path, split: str) -> dict[str, dict[str, Any]]:
    """vinfo entries by clip id; on valid, each must carry the 10 annotators' verbs in vbid_lst."""
    infos: dict[str, dict[str, Any]] = {}
    for index, info in enumerate(_read_json_list(path)):
        if not isinstance(info, dict):
            raise AnnotationError(path, f"record {index}: expected an object, got {type(info).__name__}")
        clip_id = _require(info, "vid_seg_int", str, path, f"record {index}")
        where = f"record {index} ({clip_id})"
        if clip_id in infos:
            raise AnnotationError(path, f"{where}: duplicate clip id")
        if split == "valid":
            _check_vbid_lst(info, path, where)
        infos[clip_id] = info
    return infos


def _check_vbid_lst(info: dict[str, Any], path: Path, where: str) -> None:
    """A valid clip's vbid_lst: per event, the verb ids chosen by (at least 9 of) 10 annotators."""
    vbid_lst = _require(info, "vbid_lst", dict, path, where)
    for ev in EVENTS:
        verb_ids = _require(vbid_lst, ev, list, path, f"{where}, vbid_lst")
        if len(verb_ids) < _MIN_VALID_VERBS:
            problem = f"{len(verb_ids)} verbs, expected at least {_MIN_VALID_VERBS}"
            raise AnnotationError(path, f"{where}, vbid_lst {ev}: {problem}")
        for verb_id in verb_ids:
            if not isinstance(verb_id, str):
                raise AnnotationError(path, f"{where}, vbid_lst {ev}: verb id {verb_id!r} is not a string")
            _check_verb_id(verb_id, path, f"{where}, vbid_lst {ev}")


def _read_annotations(path: Path, split: str, clip_ids: set[str]) -> dict[str, list[ClipAnnotation]]:
    """Annotations grouped per clip, in file order (VidSitu groups by Ev1's vid_seg_int)."""
    grouped: dict[str, list[ClipAnnotation]] = defaultdict(list)
    for index, record in enumerate(_read_json_list(path)):
        clip_id, annotation = _parse_record(record, index, split, path)
        if clip_id not in clip_ids:
            raise AnnotationError(path, f"record {index} ({clip_id}): clip is not in the {split} split file")
        grouped[clip_id].append(annotation)
    return grouped


def _parse_record(record: Any, index: int, split: str, path: Path) -> tuple[str, ClipAnnotation]:
    if not isinstance(record, dict):
        raise AnnotationError(path, f"record {index}: expected an object, got {type(record).__name__}")
    ev1 = _require(record, "Ev1", dict, path, f"record {index}")
    clip_id = _require(ev1, "vid_seg_int", str, path, f"record {index}, Ev1")
    where = f"record {index} ({clip_id})"
    events = {}
    for ev in EVENTS:
        event = _require(record, ev, dict, path, where)
        if event.get("vid_seg_int", clip_id) != clip_id:
            raise AnnotationError(path, f"{where}, {ev}: vid_seg_int {event['vid_seg_int']!r} is not Ev1's")
        events[ev] = _parse_event(event, ev, split, path, f"{where}, {ev}")
    return clip_id, ClipAnnotation(events=events)


def _parse_event(event: dict[str, Any], ev: str, split: str, path: Path, where: str) -> EventAnnotation:
    verb = _require(event, "Verb", str, path, where)
    verb_id = _require(event, "VerbID", str, path, where)
    _check_verb_id(verb_id, path, where)
    roles, args = _parse_roles(event, path, where) if split in _ROLE_SPLITS else ((), ())
    relation = None
    if split in _RELATION_SPLITS and ev != "Ev3":  # Ev3 is the anchor the others relate to
        relation = _require(event, "EvRel", str, path, where)
        if relation not in RELATIONS:
            raise AnnotationError(path, f"{where}: EvRel {relation!r} is not one of {', '.join(RELATIONS)}")
    return EventAnnotation(verb=verb, verb_id=verb_id, roles=roles, args=args, relation=relation)


def _parse_roles(
    event: dict[str, Any], path: Path, where: str
) -> tuple[tuple[RoleFiller, ...], tuple[RoleFiller, ...]]:
    """(fillers by Arg_List position, as VidSitu's dat_loader orders them; the same in Args key order)."""
    args = _require(event, "Args", dict, path, where)
    positions = _require(event, "Arg_List", dict, path, where)
    if set(args) != set(positions):
        problem = f"Args keys {sorted(args)} differ from Arg_List keys {sorted(positions)}"
        raise AnnotationError(path, f"{where}: {problem}")
    fillers = {}
    for name, text in args.items():
        try:
            role = arg_mapper(name)
        except ValueError:
            raise AnnotationError(path, f"{where}: cannot map role name {name!r}") from None
        if not isinstance(text, str):
            problem = f"Args value of {name!r} should be str, got {type(text).__name__}"
            raise AnnotationError(path, f"{where}: {problem}")
        fillers[name] = RoleFiller(name=name, role=role, text=text)
    order = {}
    for name, position in positions.items():
        try:
            order[name] = int(position)
        except (TypeError, ValueError):
            problem = f"Arg_List position {position!r} of {name!r} is not an integer"
            raise AnnotationError(path, f"{where}: {problem}") from None
    by_position = sorted(positions, key=order.__getitem__)  # dat_loader: sorted(Arg_List keys, key=int(position))
    return tuple(fillers[name] for name in by_position), tuple(fillers.values())
