"""VidSitu evaluation (`vidsitu_code/evl_fns.py`): verbs, semantic roles and event relations.

Reproduces the official protocol of notes `vidsitu.md` sections 2.1-2.3:

- `vb` (`EvlFn_Vb`): top-5 verb ids per event against the valid vinfo `vbid_lst` (`verb_metrics`).
- `srl` (`EvalFnCap`): CIDEr / ROUGE-L of role phrases with pip `pycocoevalcap` scorers on raw strings (no
  PTBTokenizer, no Meteor), the seed-5 permutation of each clip's annotations, per-subset IDF for the
  macro CIDEr scores, and the coval LEA coreference F1 of role fillers across events.
- `evrel` (`EvlFn_EvRel`): Top-1 and per-class (macro) accuracy with VidSitu's majority rules.

Predictions are VidSitu's own output lists (`docs/vb_eg.pkl`, `vbarg_eg.pkl`, `evrel_eg.pkl`, `a.json`),
keyed by `ann_idx`, the clip's index in the split file.
"""

import json
import math
import pickle
from collections import Counter, defaultdict
from collections.abc import Sequence
from numbers import Integral
from pathlib import Path

import numpy as np
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.rouge.rouge import Rouge

from hiermovie.datasets.vidsitu import EVALUATED_ROLES, EVENTS, ClipAnnotation, VidSituClip, load_vidsitu
from hiermovie.errors import AnnotationError, HiermovieError, InputFileError
from hiermovie.tasks.verb_metrics import verb_metrics

TASKS = ("vb", "srl", "evrel")
RELATION_EVENTS = ("Ev1", "Ev2", "Ev4", "Ev5")  # rows of pred_evrels_ev: each event's relation to Ev3
PERMUTATION_SEED = 5  # evl_fns: np.random.seed(5) before permuting the annotations of every clip
DROPPED_REF = 3  # evl_fns: ix_gt = 3, the permuted annotation left out of the references
NUM_REFS = 3  # ... and the first 3 of the rest are the references
_PICKLE_SUFFIXES = (".pkl", ".pickle")
_PREDICTION_KEYS = {"vb": "pred_vbs_ev", "srl": "vb_output", "evrel": "pred_evrels_ev"}


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
    """The task's prediction field of one entry has VidSitu's layout."""
    key = _PREDICTION_KEYS[task]
    where = f"entry {index} (ann_idx {entry['ann_idx']})"
    if key not in entry:
        raise AnnotationError(path, f"{where}: missing key {key!r} (is this a {task} prediction file?)")
    value = entry[key]

    def fail(problem: str) -> None:
        raise AnnotationError(path, f"{where}: {key} {problem}")

    if task == "srl":
        if not isinstance(value, dict):
            fail(f"should be an object of events, got {type(value).__name__}")
        for ev, roles in value.items():
            if not isinstance(roles, dict):
                fail(f"{ev} should be an object of roles, got {type(roles).__name__}")
            bad = [role for role in EVALUATED_ROLES if role in roles and not isinstance(roles[role], str)]
            if bad:
                fail(f"{ev} {bad[0]} should be a string, got {type(roles[bad[0]]).__name__}")
        return
    rows, width = (len(EVENTS), None) if task == "vb" else (len(RELATION_EVENTS), NUM_REFS)
    if not isinstance(value, list | tuple) or len(value) != rows:
        fail(f"should be a list of {rows} rows")
    for row in value:
        if isinstance(row, str) or not isinstance(row, list | tuple) or not all(isinstance(x, str) for x in row):
            fail("rows should be lists of strings")
        if width is not None and len(row) != width:
            fail(f"rows should hold {width} labels (one per annotation), got {len(row)}")


# ---------------------------------------------------------------- verbs


def verb_prediction_metrics(predictions: list[dict], clips: Sequence[VidSituClip]) -> dict[str, float]:
    """VidSitu `EvlFn_Vb`: `pred_vbs_ev` (5 events x top-5 verb ids) against each clip's `verb_ids`."""
    by_idx = _by_ann_idx(predictions, clips)
    preds = [by_idx[clip.ann_idx]["pred_vbs_ev"] for clip in clips]
    return verb_metrics(preds, [clip.verb_ids for clip in clips])


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


def srl_metrics(predictions: list[dict], clips: Sequence[VidSituClip]) -> dict[str, float]:
    """VidSitu `EvalFnCap`: CIDEr, ROUGE-L, macro CIDEr per verb and per role, and LEA.

    Args:
        predictions: VidSitu `vb_arg` entries {"ann_idx", "vb_output": {"Ev1": {"vb_id", "Arg0": str, ...}}};
            the predicted `vb_id` is ignored, missing roles score as "".
        clips: the whole split (valid) in `ann_idx` order, each with >= 3 annotations.

    Returns:
        {"cider", "rouge", "MacroVb_cider", "MacroArg_cider", "<role>_cider" per evaluated role, "lea"}.
    """
    by_idx = _by_ann_idx(predictions, clips)
    refs_per_clip = reference_annotations(clips)
    gts: dict[int, list[str]] = {}
    res: dict[int, list[str]] = {}
    verb_of: dict[int, str] = {}
    role_of: dict[int, str] = {}
    for clip, refs in zip(clips, refs_per_clip, strict=True):
        pred = by_idx[clip.ann_idx]["vb_output"]
        for ev in EVENTS:
            # the role set and the verb come from the first (permuted) reference
            for filler in refs[0].events[ev].roles:
                if filler.role not in EVALUATED_ROLES:
                    continue
                aix = len(gts)
                gts[aix] = [_role_text(ref, ev, filler.name) for ref in refs]
                res[aix] = [pred.get(ev, {}).get(filler.role, "")]
                verb_of[aix] = refs[0].events[ev].verb_id
                role_of[aix] = filler.role
    if not gts:
        raise ValueError("the references have no evaluated roles")

    metrics = {"cider": _cider(gts, res)[0], "rouge": float(Rouge().compute_score(gts, res)[0])}
    # evl_fns: the macro scores re-run CIDEr on each subset, so IDF is per subset (singletons score 0)
    metrics["MacroVb_cider"] = _macro_cider(gts, res, verb_of)[0]
    metrics["MacroArg_cider"], per_role = _macro_cider(gts, res, role_of)
    metrics.update({f"{role}_cider": score for role, score in per_role.items()})
    metrics["lea"] = srl_lea(predictions, clips, refs_per_clip)
    return metrics


def _role_text(annotation: ClipAnnotation, ev: str, name: str) -> str:
    """The annotation's phrase for the raw role `name` of event `ev`."""
    for filler in annotation.events[ev].roles:
        if filler.name == name:
            return filler.text
    # evl_fns indexes ref[ev]["Args"][raw_role] and would raise KeyError here
    raise ValueError(f"a reference annotation of {ev} has no role {name!r} (the first reference has it)")


def _macro_cider(
    gts: dict[int, list[str]], res: dict[int, list[str]], group_of: dict[int, str]
) -> tuple[float, dict[str, float]]:
    """Mean over groups of CIDEr computed on each group alone, and the per-group scores."""
    groups: dict[str, list[int]] = defaultdict(list)
    for aix, group in group_of.items():
        groups[group].append(aix)
    scores = {
        group: _cider({a: gts[a] for a in items}, {a: res[a] for a in items})[0] for group, items in groups.items()
    }
    return float(np.mean(list(scores.values()))), scores


# ---------------------------------------------------------------- LEA


def role_clusters(texts: dict[str, str]) -> list[list[str]]:
    """Coreference clusters of mention ids ("Ev1_Arg0") whose role texts are exactly equal."""
    clusters: dict[str, list[str]] = {}
    for mention, text in texts.items():
        clusters.setdefault(text, []).append(mention)
    return list(clusters.values())


def _lea_side(c_in: list[list[str]], c_out: list[list[str]]) -> tuple[float, float]:
    """coval `lea(input_clusters, output_clusters, mention_to_gold)`: (numerator, denominator)."""
    cluster_of = {mention: index for index, cluster in enumerate(c_out) for mention in cluster}
    num = den = 0.0
    for cluster in c_in:
        size = len(cluster)
        if size == 1:  # a singleton is resolved if it is a singleton on the other side too
            mention = cluster[0]
            num += float(mention in cluster_of and len(c_out[cluster_of[mention]]) == 1)
        else:
            links = size * (size - 1) / 2
            common = sum(
                1
                for i, m1 in enumerate(cluster)
                for m2 in cluster[i + 1 :]
                if m1 in cluster_of and cluster_of[m1] == cluster_of.get(m2)
            )
            num += size * common / links
        den += size
    return num, den


def lea(key_clusters: list[list[str]], sys_clusters: list[list[str]]) -> tuple[float, float, float, float]:
    """coval LEA of one document: (P_num, P_den, R_num, R_den); precision scores sys against key."""
    p_num, p_den = _lea_side(sys_clusters, key_clusters)
    r_num, r_den = _lea_side(key_clusters, sys_clusters)
    return p_num, p_den, r_num, r_den


def lea_f1(p_num: float, p_den: float, r_num: float, r_den: float) -> float:
    """F1 of corpus-level LEA precision and recall (0 where either is undefined or both are 0)."""
    precision = p_num / p_den if p_den else 0.0
    recall = r_num / r_den if r_den else 0.0
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def srl_lea(
    predictions: list[dict],
    clips: Sequence[VidSituClip],
    refs_per_clip: Sequence[tuple[ClipAnnotation, ...]] | None = None,
) -> float:
    """VidSitu's `lea`: per reference g in 0..2 the corpus LEA F1 over clips, then the mean over g."""
    by_idx = _by_ann_idx(predictions, clips)
    refs_per_clip = reference_annotations(clips) if refs_per_clip is None else refs_per_clip
    f1s = []
    for g_ix in range(NUM_REFS):
        totals = np.zeros(4)
        for clip, refs in zip(clips, refs_per_clip, strict=True):
            pred = by_idx[clip.ann_idx]["vb_output"]
            if "Ev1" not in pred:  # evl_fns skips clips whose prediction has no Ev1
                continue
            key_texts, sys_texts = {}, {}
            for ev in EVENTS:
                for filler in refs[g_ix].events[ev].roles:
                    if filler.role not in EVALUATED_ROLES:
                        continue
                    mention = f"{ev}_{filler.role}"
                    key_texts[mention] = filler.text
                    if filler.role in pred.get(ev, {}):
                        sys_texts[mention] = pred[ev][filler.role]
            totals += lea(role_clusters(key_texts), role_clusters(sys_texts))
        f1s.append(lea_f1(*totals))
    return float(np.mean(f1s))


# ---------------------------------------------------------------- event relations


def relation_metrics(predictions: list[dict], clips: Sequence[VidSituClip]) -> dict[str, float]:
    """VidSitu `EvlFn_EvRel`: Top-1 and macro (per GT class) accuracy of predicted relations.

    Per clip and event of (Ev1, Ev2, Ev4, Ev5), the gt is the relation of the first 3 annotations (file
    order); a clip-event counts only if its majority label has >= 2 of 3 votes, and then only the
    annotations equal to the majority, each against the prediction in the same column.

    Returns:
        {"Top_1", "Macro_Top_1", "Len" (number of records counted)}; NaN accuracies if none counted.
    """
    by_idx = _by_ann_idx(predictions, clips)
    records: list[tuple[bool, str]] = []  # (correct, gt class)
    for clip in clips:
        if len(clip.annotations) < NUM_REFS:
            raise ValueError(f"clip {clip.ann_idx} ({clip.clip_id}): {len(clip.annotations)} annotations, need 3")
        pred_rows = by_idx[clip.ann_idx]["pred_evrels_ev"]
        for row, ev in enumerate(RELATION_EVENTS):
            gt = [clip.annotations[i].events[ev].relation for i in range(NUM_REFS)]
            majority, votes = Counter(gt).most_common(1)[0]
            if votes < 2:  # evl_fns: no majority, so the clip-event is not valid
                continue
            hyp = pred_rows[row]
            records.extend((hyp[i] == gt[i], gt[i]) for i in range(NUM_REFS) if gt[i] == majority)
    per_class: dict[str, list[bool]] = defaultdict(list)
    for correct, label in records:
        per_class[label].append(correct)
    return {
        "Top_1": _mean([correct for correct, _ in records]),
        "Macro_Top_1": _mean([_mean(hits) for hits in per_class.values()]),
        "Len": float(len(records)),
    }


# ---------------------------------------------------------------- entry point


def evaluate(
    task: str, predictions_path: Path, vidsitu_root: Path, split: str = "valid", allow_pickle: bool = False
) -> dict[str, float]:
    """Score a VidSitu prediction file on a split: `vb`, `srl` or `evrel` (see the module docstring)."""
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
        if entry["ann_idx"] >= len(clips):
            problem = f"entry {index}: ann_idx {entry['ann_idx']} is outside the {split} split ({len(clips)} clips)"
            raise AnnotationError(predictions_path, problem)
        _check_entry(task, entry, predictions_path, index)
        first.setdefault(entry["ann_idx"], entry)  # evl_fns keeps the first prediction per ann_idx
    missing = [clip.ann_idx for clip in clips if clip.ann_idx not in first]
    if missing:
        shown = ", ".join(str(idx) for idx in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise HiermovieError(
            f"{predictions_path}: predictions for {len(missing)} of {len(clips)} {split} clips are missing "
            f"(ann_idx {shown})"
        )
    predictions = [first[clip.ann_idx] for clip in clips]
    if task == "vb":
        return verb_prediction_metrics(predictions, clips)
    if task == "srl":
        return srl_metrics(predictions, clips)
    return relation_metrics(predictions, clips)


def _by_ann_idx(predictions: list[dict], clips: Sequence[VidSituClip]) -> dict[int, dict]:
    """Predictions by ann_idx (the first wins); ValueError if a clip has none."""
    by_idx: dict[int, dict] = {}
    for entry in predictions:
        by_idx.setdefault(int(entry["ann_idx"]), entry)
    missing = [clip.ann_idx for clip in clips if clip.ann_idx not in by_idx]
    if missing:
        raise ValueError(f"no prediction for {len(missing)} clips (ann_idx {missing[:5]})")
    return by_idx


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan
