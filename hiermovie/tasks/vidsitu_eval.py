"""VidSitu evaluation (`vidsitu_code/evl_fns.py`): verbs, semantic roles and event relations.

Reproduces the official protocol of notes `vidsitu.md` sections 2.1-2.3:

- `vb` (`EvlFn_Vb`): top-5 verb ids per event against the valid vinfo `vbid_lst` (`verb_metrics`).
- `srl` (`EvalFnCap`): CIDEr / ROUGE-L of role phrases with pip `pycocoevalcap` scorers on raw strings (no
  PTBTokenizer, no Meteor), the seed-5 permutation of each clip's annotations, per-subset IDF for the
  macro CIDEr scores, and the coval LEA / lea_soft coreference F1 of role fillers across events (`lea`).
- `evrel` (`EvlFn_EvRel`): Top-1 and per-class (macro) accuracy with VidSitu's majority rules.

Predictions are VidSitu's own output lists (`docs/vb_eg.pkl`, `vbarg_eg.pkl`, `evrel_eg.pkl`, `a.json`),
keyed by `ann_idx`, the clip's index in the split file. Every clip must have one, unless `partial` (evl_fns
`debug_mode: True`): then only the clips present are scored, with the references still drawn over the split.

Role fillers are read in each event's `Args` key order, as evl_fns reads them. A clip that evl_fns stops on
with a KeyError (a reference annotation lacking a role the first reference has, or a mention whose role the
first reference lacks) is refused with one line naming the file, the clip and the role.
"""

import json
import math
import pickle
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from typing import NoReturn

import numpy as np
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge

from hiermovie.datasets.vidsitu import (
    EVALUATED_ROLES,
    EVENTS,
    ClipAnnotation,
    VidSituClip,
    annotation_file,
    arg_mapper,
    load_vidsitu,
)
from hiermovie.errors import AnnotationError, HiermovieError, InputFileError
from hiermovie.tasks.lea import is_annotation_format, srl_lea
from hiermovie.verb_metrics import TOP_K, verb_metrics

TASKS = ("vb", "srl", "evrel")
RELATION_EVENTS = ("Ev1", "Ev2", "Ev4", "Ev5")  # rows of pred_evrels_ev: each event's relation to Ev3
PERMUTATION_SEED = 5  # evl_fns: np.random.seed(5) before permuting the annotations of every clip
DROPPED_REF = 3  # evl_fns: ix_gt = 3, the permuted annotation left out of the references
NUM_REFS = 3  # ... and the first 3 of the rest are the references
_PICKLE_SUFFIXES = (".pkl", ".pickle")
_PREDICTION_KEYS = {"vb": "pred_vbs_ev", "srl": "vb_output", "evrel": "pred_evrels_ev"}
_UNSCORABLE = "VidSitu's evaluator cannot score it"


class UnscorableClip(HiermovieError):
    """A clip evl_fns stops on with a KeyError; `evaluate` names the file at fault (`in_prediction`: the
    prediction file, else the annotation file)."""

    def __init__(self, clip: VidSituClip, problem: str, in_prediction: bool):
        self.clip, self.problem, self.in_prediction = clip, problem, in_prediction
        super().__init__(f"clip {clip.ann_idx} ({clip.clip_id}): {problem}; {_UNSCORABLE}")

    def __reduce__(self):  # picklable with its arguments (scored in a worker process, re-raised in the parent)
        return type(self), (self.clip, self.problem, self.in_prediction)


# ---------------------------------------------------------------- reading


def read_predictions(path: Path, allow_pickle: bool = False) -> list[dict]:
    """A prediction list: JSON, or a pickle (VidSitu's own output) only if `allow_pickle`."""
    path = Path(path)
    if not path.is_file():
        raise InputFileError(path, "file not found")
    if path.suffix.lower() in _PICKLE_SUFFIXES:
        if not allow_pickle:
            raise HiermovieError(f"{path}: pickled predictions load only with --allow-pickle")
        try:
            with path.open("rb") as handle:
                data = pickle.load(handle)
        except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError) as err:
            raise AnnotationError(path, f"cannot unpickle: {err}") from None
    else:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise AnnotationError(path, f"invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}") from None
        except UnicodeDecodeError:
            raise AnnotationError(path, "not UTF-8 text") from None
    if not isinstance(data, list):
        raise AnnotationError(path, f"expected a list of predictions, got {type(data).__name__}")
    entries = []
    for index, entry in enumerate(data):
        if not isinstance(entry, dict):
            raise AnnotationError(path, f"entry {index}: expected an object, got {type(entry).__name__}")
        ann_idx = entry.get("ann_idx")
        if isinstance(ann_idx, bool) or not isinstance(ann_idx, Integral) or ann_idx < 0:
            raise AnnotationError(path, f"entry {index}: 'ann_idx' should be a non-negative integer, got {ann_idx!r}")
        entries.append({**entry, "ann_idx": int(ann_idx)})
    return entries


def _check_entry(task: str, entry: dict, path: Path, index: int) -> None:
    """The task's prediction field of one entry is one that evl_fns can read."""
    key = _PREDICTION_KEYS[task]
    where = f"entry {index} (ann_idx {entry['ann_idx']})"
    if key not in entry:
        raise AnnotationError(path, f"{where}: missing key {key!r} (is this a {task} prediction file?)")

    def fail(problem: str) -> NoReturn:
        raise AnnotationError(path, f"{where}: {key} {problem}")

    if task == "srl":
        _check_roles(entry[key], fail)
    else:
        _check_rows(task, entry[key], fail)


def _check_roles(value: object, fail: Callable[[str], NoReturn]) -> None:
    """A `vb_output`: events of role phrases, or annotation-format events whose `Args` evl_fns can map."""
    if not isinstance(value, dict):
        fail(f"should be an object of events, got {type(value).__name__}")
    for ev, roles in value.items():
        if not isinstance(roles, dict):
            fail(f"{ev} should be an object of roles, got {type(roles).__name__}")
        bad = [role for role in EVALUATED_ROLES if role in roles and not isinstance(roles[role], str)]
        if bad:
            fail(f"{ev} {bad[0]} should be a string, got {type(roles[bad[0]]).__name__}")
    if not is_annotation_format(value):
        return
    # evl_fns then reads the Args of every event and maps every role name in them (raising on any it cannot)
    for ev in EVENTS:
        args = value.get(ev, {}).get("Args")
        if not isinstance(args, dict):
            fail(f"{ev} should carry an Args object, as Ev1 does (annotation format)")
        for name, text in args.items():
            try:
                arg_mapper(name)
            except (AttributeError, ValueError):  # AttributeError: a pickled name that is not a string
                fail(f"{ev} Args: cannot map role name {name!r}")
            if not isinstance(text, str):
                fail(f"{ev} Args {name!r} should be a string, got {type(text).__name__}")


def _check_rows(task: str, value: object, fail: Callable[[str], NoReturn]) -> None:
    """`pred_vbs_ev` / `pred_evrels_ev`: a list of per-event rows that evl_fns can index.

    evl_fns reads the first 5 (vb) or 4 (evrel) rows and ignores any more, and compares labels by equality
    (verb ids through a set), so a label of any type is scored: a miss unless it equals the reference string.
    """
    rows = len(EVENTS) if task == "vb" else len(RELATION_EVENTS)
    if not isinstance(value, list | tuple) or len(value) < rows:
        got = f"{len(value)} rows" if isinstance(value, list | tuple) else type(value).__name__
        fail(f"should be a list of {rows} rows, got {got}")
    for row in value[:rows]:
        if not isinstance(row, list | tuple):  # deviation: evl_fns would read a string row letter by letter
            fail(f"rows should be lists of labels, got {type(row).__name__}")
        unhashable = [verb for verb in row[:TOP_K] if not isinstance(verb, Hashable)] if task == "vb" else []
        if unhashable:  # evl_fns puts the top 5 in a set
            fail(f"verb ids should be strings, got {type(unhashable[0]).__name__}")
        if task == "evrel" and len(row) != NUM_REFS:  # evl_fns asserts one label per reference annotation
            fail(f"rows should hold {NUM_REFS} labels (one per annotation), got {len(row)}")


# ---------------------------------------------------------------- verbs


def verb_prediction_metrics(
    predictions: list[dict], clips: Sequence[VidSituClip], partial: bool = False
) -> dict[str, float]:
    """VidSitu `EvlFn_Vb`: `pred_vbs_ev` (5 events x top-5 verb ids) against each clip's `verb_ids`."""
    by_idx, scored = _scored_clips(predictions, clips, partial)
    preds = [by_idx[clip.ann_idx]["pred_vbs_ev"][: len(EVENTS)] for clip in scored]  # evl_fns reads rows 0-4
    return verb_metrics(preds, [clip.verb_ids for clip in scored])


# ---------------------------------------------------------------- semantic roles


def reference_annotations(clips: Sequence[VidSituClip]) -> list[tuple[ClipAnnotation, ...]]:
    """Per clip, the 3 reference annotations of `EvalFnCap`: seed-5 permutation, index 3 dropped, first 3 kept.

    `clips` must be the whole split in `ann_idx` order: one permutation is drawn per clip in that order.
    """
    # evl_fns: np.random.seed(5); gts[i] = [gts[i][j] for j in np.random.permutation(len(gts[i]))];
    # RandomState(5) draws the same legacy stream without touching the global RNG
    rng = np.random.RandomState(PERMUTATION_SEED)
    refs = []
    for position, clip in enumerate(clips):
        if clip.ann_idx != position:
            raise ValueError(f"clips must be the whole split in ann_idx order; clip {position} has {clip.ann_idx}")
        if len(clip.annotations) < NUM_REFS:
            raise ValueError(f"clip {clip.ann_idx} ({clip.clip_id}): {len(clip.annotations)} annotations, need 3")
        permuted = [clip.annotations[j] for j in rng.permutation(len(clip.annotations))]
        refs.append(tuple([ann for j, ann in enumerate(permuted) if j != DROPPED_REF][:NUM_REFS]))
    return refs


def _cider(gts: dict[int, list[str]], res: dict[int, list[str]]) -> tuple[float, np.ndarray]:
    """pycocoevalcap CIDEr-D (IDF from these refs), 0 where the refs have no words (Cider would crash)."""
    if not any(ref.split() for refs in gts.values() for ref in refs):
        return 0.0, np.zeros(len(gts))
    score, scores = Cider().compute_score(gts, res)
    return float(score), np.asarray(scores, dtype=float)


def srl_metrics(predictions: list[dict], clips: Sequence[VidSituClip], partial: bool = False) -> dict[str, float]:
    """VidSitu `EvalFnCap`: CIDEr, ROUGE-L, their macro scores per verb and per role, LEA and lea_soft.

    Args:
        predictions: VidSitu `vb_arg` entries {"ann_idx", "vb_output": {"Ev1": {"vb_id", "Arg0": str, ...}}}
            (or annotation-format events, see `lea`); the predicted `vb_id` is ignored, missing roles score "".
        clips: the whole split (valid) in `ann_idx` order, each with >= 3 annotations.
        partial: score only the clips that have a prediction (evl_fns `debug_mode`); the references are still
            the seed-5 choice over the whole split, the IDF that of the scored clips.

    Returns:
        {"cider", "rouge", "MacroVb_*", "MacroArg_*", "<role>_*" per evaluated role (* = cider, rouge),
        "lea", "lea_soft"}.

    Raises:
        UnscorableClip: a clip evl_fns cannot score (a KeyError there): `_check_references`, `_check_mentions`.
    """
    items = _srl_items(predictions, clips, partial)
    gts, res, predicted, references = items.gts, items.res, items.predicted, items.references
    cider, cider_sent = _cider(gts, res)
    rouge, rouge_sent = Rouge().compute_score(gts, res)
    metrics = {"cider": cider, "rouge": float(rouge)}
    by_verb, by_role = (_group_scores(gts, res, rouge_sent, group_of) for group_of in (items.verb_of, items.role_of))
    for name in ("cider", "rouge"):
        metrics[f"MacroVb_{name}"] = _mean([scores[name] for scores in by_verb.values()])  # evl_fns get_avg
        metrics[f"MacroArg_{name}"] = _mean([scores[name] for scores in by_role.values()])
        metrics.update({f"{role}_{name}": scores[name] for role, scores in by_role.items()})

    # lea_soft weighs a system mention by its item's CIDEr; evl_fns' dict keeps the last item of a repeated id
    item_ciders: list[dict[str, float]] = [{} for _ in predicted]
    for aix, (position, mention) in items.mention_of.items():
        item_ciders[position][mention] = float(cider_sent[aix])
    for clip, pred, refs, ciders in zip(items.clips, predicted, references, item_ciders, strict=True):
        _check_mentions(clip, pred, refs, set(ciders))
    metrics.update(srl_lea(predicted, references, item_ciders))
    return metrics


def srl_cider(predictions: list[dict], clips: Sequence[VidSituClip], partial: bool = False) -> float:
    """`srl_metrics(...)["cider"]` alone: the metric that picks the best epoch, at a twentieth of the cost."""
    items = _srl_items(predictions, clips, partial)
    return _cider(items.gts, items.res)[0]


@dataclass(frozen=True)
class _SRLItems:
    """The scored role phrases: item (aix) -> the 3 reference phrases, [the predicted phrase], its verb, its role,
    (position of its clip, mention id "Ev1_Arg0"); and per scored clip the clip, its prediction and references."""

    gts: dict[int, list[str]]
    res: dict[int, list[str]]
    verb_of: dict[int, str]
    role_of: dict[int, str]
    mention_of: dict[int, tuple[int, str]]
    clips: list[VidSituClip]
    predicted: list[dict]
    references: list[tuple[ClipAnnotation, ...]]


def _srl_items(predictions: list[dict], clips: Sequence[VidSituClip], partial: bool) -> _SRLItems:
    by_idx, scored = _scored_clips(predictions, clips, partial)
    split_refs = reference_annotations(clips)  # drawn over the whole split, clip i at index i
    predicted = [by_idx[clip.ann_idx]["vb_output"] for clip in scored]
    references = [split_refs[clip.ann_idx] for clip in scored]
    gts: dict[int, list[str]] = {}  # item (aix) -> the 3 reference phrases
    res: dict[int, list[str]] = {}  # item -> [predicted phrase]
    verb_of: dict[int, str] = {}
    role_of: dict[int, str] = {}
    mention_of: dict[int, tuple[int, str]] = {}  # item -> (position in `scored`, mention id "Ev1_Arg0")
    for position, (clip, pred, refs) in enumerate(zip(scored, predicted, references, strict=True)):
        _check_references(clip, refs)
        for ev in EVENTS:
            # the role set and the verb come from the first (permuted) reference, its roles in Args order
            for filler in refs[0].events[ev].args:
                if filler.role not in EVALUATED_ROLES:
                    continue
                aix = len(gts)
                gts[aix] = [_role_text(ref, ev, filler.name) for ref in refs]
                res[aix] = [pred.get(ev, {}).get(filler.role, "")]
                verb_of[aix] = refs[0].events[ev].verb_id
                role_of[aix] = filler.role
                mention_of[aix] = (position, f"{ev}_{filler.role}")
    if not gts:
        raise ValueError("the references have no evaluated roles")
    return _SRLItems(gts, res, verb_of, role_of, mention_of, scored, predicted, references)


def _role_text(annotation: ClipAnnotation, ev: str, name: str) -> str:
    """The annotation's phrase for the raw role `name` of event `ev` (`_check_references` made sure it has one)."""
    return next(filler.text for filler in annotation.events[ev].args if filler.name == name)


def _check_references(clip: VidSituClip, refs: Sequence[ClipAnnotation]) -> None:
    """UnscorableClip where a reference lacks an evaluated role name of the first reference (evl_fns: a
    KeyError in `ref[ev]["Args"][role]`)."""
    for ev in EVENTS:
        for filler in refs[0].events[ev].args:
            for ref in refs[1:]:
                if filler.role in EVALUATED_ROLES and all(other.name != filler.name for other in ref.events[ev].args):
                    lacking = f"reference annotation {_number(clip, ref)} lacks role {filler.name!r}"
                    problem = f"{ev}: {lacking}, which {_first_reference(clip, refs)} has"
                    raise UnscorableClip(clip, problem, in_prediction=False)


def _check_mentions(clip: VidSituClip, prediction: dict, refs: Sequence[ClipAnnotation], scored: set[str]) -> None:
    """UnscorableClip where a system mention of LEA has an id ("Ev1_Arg1") that no scored item has, so that
    lea_soft finds no CIDEr for it (evl_fns: a KeyError in `conv11[mention]`): a role of an annotation-format
    prediction, or a role of another reference that the prediction fills, that the first reference lacks."""
    if "Ev1" not in prediction:  # evl_fns leaves the clip out of LEA
        return
    if is_annotation_format(prediction):
        for ev in EVENTS:
            for name in prediction[ev]["Args"]:
                if arg_mapper(name) in EVALUATED_ROLES and f"{ev}_{arg_mapper(name)}" not in scored:
                    problem = f"vb_output {ev} Args role {name!r} is not a role of {_first_reference(clip, refs)}"
                    raise UnscorableClip(clip, problem, in_prediction=True)
        return
    for ref in refs[1:]:
        for ev in EVENTS:
            for filler in ref.events[ev].args:
                mention = f"{ev}_{filler.role}"
                if filler.role in EVALUATED_ROLES and filler.role in prediction.get(ev, {}) and mention not in scored:
                    problem = (
                        f"{ev}: {_first_reference(clip, refs)} lacks role {filler.name!r}, which reference "
                        f"annotation {_number(clip, ref)} has and the prediction fills ({filler.role})"
                    )
                    raise UnscorableClip(clip, problem, in_prediction=False)


def _number(clip: VidSituClip, annotation: ClipAnnotation) -> int:
    """The annotation's place among the clip's annotations, 1-based, in file order."""
    return next(k for k, other in enumerate(clip.annotations, 1) if other is annotation)


def _first_reference(clip: VidSituClip, refs: Sequence[ClipAnnotation]) -> str:
    return f"the first reference (annotation {_number(clip, refs[0])} of the clip)"


def _group_scores(
    gts: dict[int, list[str]], res: dict[int, list[str]], rouge_sent: Sequence[float], group_of: dict[int, str]
) -> dict[str, dict[str, float]]:
    """Per group (verb or role), in first-seen order: {"cider", "rouge"} of its items scored alone.

    evl_fns re-runs the scorers on each subset: CIDEr's IDF is then the subset's (singletons score 0), while
    ROUGE-L, per item, is the mean of the items' scores.
    """
    groups: dict[str, list[int]] = defaultdict(list)
    for aix, group in group_of.items():
        groups[group].append(aix)
    return {
        group: {
            "cider": _cider({a: gts[a] for a in items}, {a: res[a] for a in items})[0],
            "rouge": float(np.mean([rouge_sent[a] for a in items])),  # Rouge.compute_score: np.mean
        }
        for group, items in groups.items()
    }


# ---------------------------------------------------------------- event relations


def relation_metrics(predictions: list[dict], clips: Sequence[VidSituClip], partial: bool = False) -> dict[str, float]:
    """VidSitu `EvlFn_EvRel`: Top-1 and macro (per GT class) accuracy of predicted relations.

    Per clip and event of (Ev1, Ev2, Ev4, Ev5), the gt is the relation of the first 3 annotations (file
    order); a clip-event counts only if its majority label has >= 2 of 3 votes, and then only the
    annotations equal to the majority, each against the prediction in the same column. A predicted label is
    right if it equals the gt string, so any other value (a class id, "causes", "Null") is a miss.

    Returns:
        {"Top_1", "Macro_Top_1", "Len" (number of records counted)}; NaN accuracies if none counted.
    """
    by_idx, scored = _scored_clips(predictions, clips, partial)
    records: list[bool] = []
    # gt class -> its records; classes in evl_fns' dict order (first seen in any clip-event, valid or not),
    # which fixes the order of the macro sum
    per_class: dict[str, list[bool]] = {}
    for clip in scored:
        if len(clip.annotations) < NUM_REFS:
            raise ValueError(f"clip {clip.ann_idx} ({clip.clip_id}): {len(clip.annotations)} annotations, need 3")
        pred_rows = by_idx[clip.ann_idx]["pred_evrels_ev"]
        for row, ev in enumerate(RELATION_EVENTS):
            gt = [clip.annotations[i].events[ev].relation for i in range(NUM_REFS)]
            majority, votes = Counter(gt).most_common(1)[0]
            hits = per_class.setdefault(majority, [])
            if votes < 2:  # evl_fns: no majority, so the clip-event is not valid
                continue
            hyp = pred_rows[row]
            correct = [hyp[i] == gt[i] for i in range(NUM_REFS) if gt[i] == majority]
            records.extend(correct)
            hits.extend(correct)
    return {
        "Top_1": _mean(records),
        # evl_fns divides by zero for a class seen only in clip-events without a majority; left out here
        "Macro_Top_1": _mean([_mean(hits) for hits in per_class.values() if hits]),
        "Len": float(len(records)),
    }


# ---------------------------------------------------------------- entry point


def evaluate(
    task: str,
    predictions_path: Path,
    vidsitu_root: Path,
    split: str = "valid",
    allow_pickle: bool = False,
    partial: bool = False,
) -> dict[str, float]:
    """Score a VidSitu prediction file on a split: `vb`, `srl` or `evrel` (see the module docstring).

    `partial` scores only the clips present (evl_fns `debug_mode: True`); otherwise every clip needs one.
    """
    if task not in TASKS:
        raise HiermovieError(f"unknown VidSitu task {task!r}; expected one of {', '.join(TASKS)}")
    predictions_path = Path(predictions_path)
    entries = read_predictions(predictions_path, allow_pickle=allow_pickle)
    clips = load_vidsitu(Path(vidsitu_root), split).clips
    if task in ("srl", "evrel"):
        short = [clip for clip in clips if len(clip.annotations) < NUM_REFS]
        if short:
            raise HiermovieError(
                f"VidSitu {task} evaluation needs >= {NUM_REFS} annotations per clip, but {len(short)} {split} clips "
                f"have fewer (e.g. {short[0].clip_id}); evaluate on the valid split"
            )
        annotations = [ann for clip in clips for ann in clip.annotations]
        if task == "srl" and not any(event.roles for ann in annotations for event in ann.events.values()):
            raise HiermovieError(f"the VidSitu {split} annotations carry no semantic roles; evaluate on valid")
        if task == "evrel" and any(ann.events[ev].relation is None for ann in annotations for ev in RELATION_EVENTS):
            raise HiermovieError(f"the VidSitu {split} annotations carry no event relations; evaluate on valid")

    first: dict[int, dict] = {}
    for index, entry in enumerate(entries):
        if entry["ann_idx"] >= len(clips):  # evl_fns: a KeyError, debug_mode or not
            problem = f"entry {index}: ann_idx {entry['ann_idx']} is outside the {split} split ({len(clips)} clips)"
            raise AnnotationError(predictions_path, problem)
        _check_entry(task, entry, predictions_path, index)
        first.setdefault(entry["ann_idx"], entry)  # evl_fns keeps the first prediction per ann_idx
    missing = [clip.ann_idx for clip in clips if clip.ann_idx not in first]
    if missing and not partial:  # evl_fns: assert len(hypo_dct) == len(vseg_lst) unless debug_mode
        shown = ", ".join(str(idx) for idx in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise HiermovieError(
            f"{predictions_path}: predictions for {len(missing)} of {len(clips)} {split} clips are missing "
            f"(ann_idx {shown}); --partial scores only the clips present"
        )
    if not first:  # deviation: evl_fns would report 0 verb accuracies, or divide by zero
        raise HiermovieError(f"{predictions_path}: no predictions to score")
    scorer = {"vb": verb_prediction_metrics, "srl": srl_metrics, "evrel": relation_metrics}[task]
    try:
        return scorer(list(first.values()), clips, partial=partial)
    except UnscorableClip as error:  # name the file at fault
        clip = error.clip
        if error.in_prediction:
            index = next(k for k, entry in enumerate(entries) if entry["ann_idx"] == clip.ann_idx)
            path, where = predictions_path, f"entry {index} (ann_idx {clip.ann_idx}, clip {clip.clip_id})"
        else:
            path, where = annotation_file(vidsitu_root, split), f"clip {clip.ann_idx} ({clip.clip_id})"
        raise AnnotationError(path, f"{where}: {error.problem}; {_UNSCORABLE}") from None


def _scored_clips(
    predictions: list[dict], clips: Sequence[VidSituClip], partial: bool
) -> tuple[dict[int, dict], list[VidSituClip]]:
    """Predictions by ann_idx (the first wins) and the clips to score: all of them (ValueError if one has no
    prediction) or, if `partial`, those that have one."""
    by_idx: dict[int, dict] = {}
    for entry in predictions:
        by_idx.setdefault(int(entry["ann_idx"]), entry)
    missing = [clip.ann_idx for clip in clips if clip.ann_idx not in by_idx]
    if missing and not partial:
        raise ValueError(f"no prediction for {len(missing)} clips (ann_idx {missing[:5]})")
    return by_idx, [clip for clip in clips if clip.ann_idx in by_idx]


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan
