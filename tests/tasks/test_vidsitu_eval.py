"""VidSitu evaluation on tiny hand-built annotation folders, checked against independent computations."""

import json
import math
import pickle
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from hiermovie.datasets.vidsitu import EVENTS, load_vidsitu
from hiermovie.errors import AnnotationError, HiermovieError
from hiermovie.tasks.vidsitu_eval import (
    UnscorableClip,
    evaluate,
    read_predictions,
    reference_annotations,
    relation_metrics,
    srl_cider,
    srl_metrics,
)
from hiermovie.verb_metrics import verb_metrics

EXAMPLES = Path("/work/shared/data/vidsitu_examples")
ROLE_NAMES = {"Arg0": "Arg0 (agent)", "Arg1": "Arg1 (thing)", "Arg2": "Arg2 (other)", "AScn": "Scene of the Event"}
LOC, LOC2 = "ArgM (location)", "ArgM (location, second)"  # two role names that arg_mapper maps to ALoc
VERBS = ["push.01"] * 6 + ["shove.01"] * 4


def annotation(
    roles: dict[str, dict[str, str]] | None = None,
    verbs: dict[str, str] | None = None,
    relations: dict[str, str] | None = None,
) -> dict[str, dict[str, str]]:
    """One annotator's five events: {ev: {short or raw role: text}}, {ev: verb id}, {ev: EvRel} (defaults elsewhere)."""
    roles, verbs, relations = roles or {}, verbs or {}, relations or {}
    return {
        ev: {
            "Verb": verbs.get(ev, "push.01").split(".")[0],
            "VerbID": verbs.get(ev, "push.01"),
            "Args": {ROLE_NAMES.get(r, r): text for r, text in roles.get(ev, {}).items()},
            "Arg_List": {ROLE_NAMES.get(r, r): str(k) for k, r in enumerate(roles.get(ev, {}), 1)},
            **({} if ev == "Ev3" else {"EvRel": relations.get(ev, "Causes")}),
        }
        for ev in EVENTS
    }


def write_valid(root: Path, clips: list[list[dict]]) -> Path:
    """A valid split with these clips, each a list of `annotation(...)` records (file order)."""
    ann_dir = root / "vidsitu_annotations"
    ids = [f"v_clip{k}_seg_0_10" for k in range(len(clips))]
    records = []
    for clip_id, anns in zip(ids, clips, strict=True):
        for ann in anns:
            records.append({ev: {"vid_seg_int": clip_id, **event} for ev, event in ann.items()})
    vinfo = [{"vid_seg_int": clip_id, "vbid_lst": {ev: VERBS for ev in EVENTS}} for clip_id in ids]
    files = {
        "split_files/vseg_split_valid_lb.json": ids,
        "vinfo_files/vinfo_valid_lb.json": vinfo,
        "vseg_ann_files/vsann_valid_lb.json": records,
    }
    for name, data in files.items():
        (ann_dir / name).parent.mkdir(parents=True, exist_ok=True)
        (ann_dir / name).write_text(json.dumps(data))
    return root


def write_predictions(path: Path, entries: list[dict]) -> Path:
    path.write_text(json.dumps(entries))
    return path


# ---------------------------------------------------------------- independent CIDEr-D and ROUGE-L


def _ngrams(text: str, n: int) -> Counter:
    words = text.split()
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def cider_d(items: list[tuple[str, list[str]]]) -> list[float]:
    """CIDEr-D as in pycocoevalcap: IDF over these items' refs, clipped tf-idf cosine, length penalty sigma 6."""
    log_n = math.log(len(items))
    df = Counter(g for _, refs in items for g in {g for r in refs for n in range(1, 5) for g in _ngrams(r, n)})

    def vec(text: str) -> tuple[list[dict], np.ndarray, int]:
        vecs = [{g: tf * (log_n - math.log(max(1, df[g]))) for g, tf in _ngrams(text, n).items()} for n in range(1, 5)]
        norms = np.array([math.sqrt(sum(v * v for v in d.values())) for d in vecs])
        return vecs, norms, sum(_ngrams(text, 2).values())  # pycocoevalcap's "length" counts bigrams

    scores = []
    for hyp, refs in items:
        hv, hn, hl = vec(hyp)
        total = 0.0
        for ref in refs:
            rv, rn, rl = vec(ref)
            sims = [sum(min(v, rv[n].get(g, 0.0)) * rv[n].get(g, 0.0) for g, v in hv[n].items()) for n in range(4)]
            sims = [s / (hn[n] * rn[n]) if hn[n] and rn[n] else s for n, s in enumerate(sims)]
            total += np.mean(sims) * math.exp(-((hl - rl) ** 2) / (2 * 6.0**2))
        scores.append(10.0 * total / len(refs))
    return scores


def rouge_l(hyp: str, refs: list[str], beta: float = 1.2) -> float:
    def lcs(a: list[str], b: list[str]) -> int:
        table = np.zeros((len(a) + 1, len(b) + 1), dtype=int)
        for i, x in enumerate(a):
            for j, y in enumerate(b):
                table[i + 1, j + 1] = table[i, j] + 1 if x == y else max(table[i, j + 1], table[i + 1, j])
        return int(table[-1, -1])

    h = hyp.split(" ")
    precision = max(lcs(h, r.split(" ")) / len(h) for r in refs)
    recall = max(lcs(h, r.split(" ")) / len(r.split(" ")) for r in refs)
    if not precision or not recall:
        return 0.0
    return (1 + beta**2) * precision * recall / (recall + beta**2 * precision)


# ---------------------------------------------------------------- SRL


def test_srl_cider_rouge_and_macro_against_independent(tmp_path: Path) -> None:
    # clip 0: Ev1 push.01 Arg0 + AScn; clip 1: Ev1 push.01 Arg0, Ev2 open.01 Arg1 (a singleton verb subset)
    texts0 = [("the man", "a room"), ("a tall man", "the room"), ("man in red", "a big room")]
    texts1 = [("the woman", "the door"), ("a woman", "a door"), ("woman in blue", "door")]
    clip0 = [annotation({"Ev1": {"Arg0": a, "AScn": s}}) for a, s in texts0]
    clip1 = [annotation({"Ev1": {"Arg0": a}, "Ev2": {"Arg1": d}}, verbs={"Ev2": "open.01"}) for a, d in texts1]
    clips = load_vidsitu(write_valid(tmp_path, [clip0, clip1]), "valid").clips
    preds = [
        {"ann_idx": 0, "vb_output": {"Ev1": {"vb_id": "x.01", "Arg0": "the tall man"}}},  # AScn missing -> ""
        {"ann_idx": 1, "vb_output": {"Ev1": {"Arg0": "a woman"}, "Ev2": {"Arg1": "the door"}}},
    ]
    metrics = srl_metrics(preds, clips)

    # with 3 annotations, the references are all of them (order is irrelevant to CIDEr and ROUGE-L)
    items = {
        ("push.01", "Arg0"): [("the tall man", [a for a, _ in texts0]), ("a woman", [a for a, _ in texts1])],
        ("push.01", "AScn"): [("", [s for _, s in texts0])],
        ("open.01", "Arg1"): [("the door", [d for _, d in texts1])],
    }
    flat = [item for group in items.values() for item in group]
    assert metrics["cider"] == pytest.approx(np.mean(cider_d(flat)))
    assert srl_cider(preds, clips) == metrics["cider"]  # the per-epoch selection metric, computed alone
    assert metrics["rouge"] == pytest.approx(np.mean([rouge_l(h, r) for h, r in flat]))
    push = items[("push.01", "Arg0")] + items[("push.01", "AScn")]
    assert cider_d(items[("open.01", "Arg1")]) == [0.0]  # a singleton subset has IDF 0
    assert metrics["MacroVb_cider"] == pytest.approx((np.mean(cider_d(push)) + 0.0) / 2)
    assert metrics["Arg0_cider"] == pytest.approx(np.mean(cider_d(items[("push.01", "Arg0")])))
    assert metrics["AScn_cider"] == 0.0 and metrics["Arg1_cider"] == 0.0
    assert metrics["MacroArg_cider"] == pytest.approx(metrics["Arg0_cider"] / 3)
    # ROUGE-L has no IDF: per subset the mean of its items' scores, then the mean over subsets
    by_role = {role: group for (_, role), group in items.items()}
    for role, group in by_role.items():
        assert metrics[f"{role}_rouge"] == pytest.approx(mean_rouge(group))
    assert metrics["MacroArg_rouge"] == pytest.approx(np.mean([mean_rouge(group) for group in by_role.values()]))
    assert metrics["MacroVb_rouge"] == pytest.approx((mean_rouge(push) + mean_rouge(by_role["Arg1"])) / 2)
    assert metrics["MacroVb_rouge"] != pytest.approx(metrics["rouge"])
    assert metrics["cider"] > 0 and 0 < metrics["lea"] <= 1 and metrics["lea_soft"] > 0


def mean_rouge(items: list[tuple[str, list[str]]]) -> float:
    return float(np.mean([rouge_l(hyp, refs) for hyp, refs in items]))


def test_lea_of_two_location_roles_end_to_end(tmp_path: Path) -> None:
    # test_lea.py case 1 from the files: LEA 8/15 (P 4/5, R 2/5)
    ev1, ev2 = {"Arg0": "the man", LOC: "the park", LOC2: "the bench"}, {"Arg0": "the man", "AScn": "the park"}
    root = write_valid(tmp_path / "vs", [[annotation({"Ev1": ev1, "Ev2": ev2})] * 3])
    pred = {"Ev1": {"Arg0": "a man", "ALoc": "the park"}, "Ev2": {"Arg0": "a man", "AScn": "a park"}}
    metrics = evaluate("srl", write_predictions(tmp_path / "p.json", [{"ann_idx": 0, "vb_output": pred}]), root)
    assert metrics["lea"] == pytest.approx(8 / 15)
    # items, in order: Ev1 Arg0, Ev1 ALoc ("the park" refs), Ev1 ALoc ("the bench" refs), Ev2 Arg0, Ev2 AScn
    items = [("a man", ["the man"] * 3), ("the park", ["the park"] * 3), ("the park", ["the bench"] * 3)]
    items += [("a man", ["the man"] * 3), ("a park", ["the park"] * 3)]
    c = cider_d(items)
    assert metrics["cider"] == pytest.approx(np.mean(c))
    assert c[2] == 0 < c[1]  # "the" is in every item's references (IDF 0), "park" in two
    # lea_soft: both Ev1_ALoc mentions weigh the CIDEr of the last Ev1_ALoc item (evl_fns' dict), c[2];
    # P = ((c0 + c3) 2 1/1 + (c2 + c2) 2 1/1 + c4 1 0) / (2^2 + 2^2 + 1^2), R = LEA's 2/5
    p, r = (2 * (c[0] + c[3]) + 2 * (c[2] + c[2])) / 9, 2 / 5
    assert metrics["lea_soft"] == pytest.approx(2 * p * r / (p + r))


def test_lea_of_annotation_format_predictions_end_to_end(tmp_path: Path) -> None:
    # test_lea.py case 2 from the files: the prediction is another annotation (a human-agreement run)
    ev1, ev2 = {"Arg0": "the man", "Arg1": "the ball", LOC: "the park"}, {"Arg0": "the man", "AScn": "the park"}
    root = write_valid(tmp_path / "vs", [[annotation({"Ev1": ev1, "Ev2": ev2})] * 3])
    own1, own2 = {"Arg0": "a boy", "Arg1": "a boy", "ArgM (manner)": "fast"}, {"Arg0": "a boy", "AScn": "outside"}
    human = annotation({"Ev1": own1, "Ev2": own2})
    metrics = evaluate("srl", write_predictions(tmp_path / "p.json", [{"ann_idx": 0, "vb_output": human}]), root)
    assert metrics["lea"] == pytest.approx(4 / 13)  # P 1/4, R 2/5
    # CIDEr looks up the mapped keys ("Arg0", ...), which an annotation lacks: every phrase is "", so 0,
    # and lea_soft, weighted by it, is 0
    assert metrics["cider"] == 0 and metrics["lea_soft"] == 0
    del human["Ev3"]["Args"]  # evl_fns reads every event's Args once Ev1 has them
    with pytest.raises(AnnotationError, match=r"q\.json: entry 0 \(ann_idx 0\): vb_output Ev3 should carry an Args"):
        evaluate("srl", write_predictions(tmp_path / "q.json", [{"ann_idx": 0, "vb_output": human}]), root)
    human["Ev3"]["Args"] = {"ArgM (time)": "later"}
    with pytest.raises(AnnotationError, match=r"vb_output Ev3 Args: cannot map role name 'ArgM \(time\)'"):
        evaluate("srl", write_predictions(tmp_path / "q.json", [{"ann_idx": 0, "vb_output": human}]), root)


# A repeated role: two ArgM names of Ev1 that arg_mapper both maps to ALoc, listed in Args in another order
# than their Arg_List positions. evl_fns reads Args in key order (LOC2 before LOC); dat_loader's Arg_List order
# (LOC before LOC2) is only the training target's.
ORDER_EV1 = {"Arg0": "the man", LOC2: "the bench", LOC: "the park"}  # Args, in this key order
ORDER_EV2 = {"Arg0": "the man", "AScn": "the park"}


def _args_order_split(root: Path) -> Path:
    """3 identical references of ORDER_EV1 / ORDER_EV2, with Arg_List positions Arg0 1, LOC 2, LOC2 3 in Ev1."""
    ann = annotation({"Ev1": ORDER_EV1, "Ev2": ORDER_EV2})
    ann["Ev1"]["Arg_List"] = {ROLE_NAMES["Arg0"]: "1", LOC: "2", LOC2: "3"}
    return write_valid(root, [[ann] * 3])


def test_lea_follows_the_args_order_of_a_repeated_role(tmp_path: Path) -> None:
    root = _args_order_split(tmp_path / "vs")
    # key mentions in Args order: Ev1_Arg0 "the man", Ev1_ALoc "the bench", Ev1_ALoc "the park", Ev2_Arg0
    # "the man", Ev2_AScn "the park"; entities (first-seen text) K0 {Ev1_Arg0, Ev2_Arg0}, K1 {Ev1_ALoc} (bench),
    # K2 {Ev1_ALoc, Ev2_AScn} (park); coval assigns the repeated Ev1_ALoc to the last entity holding it, K2.
    # (In Arg_List order K1 would be the park pair and K2 the bench singleton, so Ev1_ALoc -> the singleton.)

    # 1. a human-agreement run: the prediction is an annotation, its own Args give the system mentions
    human = annotation({"Ev1": {"Arg0": "a man", LOC: "the park"}, "Ev2": {"Arg0": "a man", "AScn": "the park"}})
    # system: S0 {Ev1_Arg0, Ev2_Arg0} ("a man"), S1 {Ev1_ALoc, Ev2_AScn} ("the park")
    # P: S0 its link in K0: 2; S1 Ev1_ALoc -> K2, Ev2_AScn -> K2, linked: 2            => 4/4
    # R: K0 in S0: 2; K1 a singleton, but S1 has 2 mentions: 0; K2 both in S1: 2      => 4/5
    # LEA = 2 (1)(4/5) / (9/5) = 8/9   (Arg_List order: P 2/4 (Ev2_AScn -> K1, Ev1_ALoc -> K2), R 4/5: 8/13)
    path = write_predictions(tmp_path / "human.json", [{"ann_idx": 0, "vb_output": human}])
    assert evaluate("srl", path, root)["lea"] == pytest.approx(8 / 9)

    # 2. a model's prediction: system mentions follow the reference's role names, so Ev1_ALoc twice
    pred = {"Ev1": {"Arg0": "a man", "ALoc": "the park"}, "Ev2": {"Arg0": "a man", "AScn": "the park"}}
    # system: S0 {Ev1_Arg0, Ev2_Arg0}, S1 {Ev1_ALoc, Ev1_ALoc, Ev2_AScn}
    # P: S0: 2; S1 all 3 pairs in K2: 3 * 3/3 = 3                                     => 5/5
    # R: K0: 2; K1 singleton, S1 has 3: 0; K2 both in S1: 2                             => 4/5
    # LEA = 8/9   (Arg_List order: only the (Ev1_ALoc, Ev1_ALoc) pair of S1 resolved, P 3/5: 24/35)
    # (evl_fns with the coval fork, run on these files, gives 8/9 for both predictions)
    metrics = evaluate("srl", write_predictions(tmp_path / "p.json", [{"ann_idx": 0, "vb_output": pred}]), root)
    assert metrics["lea"] == pytest.approx(8 / 9)
    # items in Args order: Ev1 Arg0, Ev1 ALoc (LOC2, "the bench" refs), Ev1 ALoc (LOC, "the park"), Ev2 Arg0, Ev2 AScn
    items = [("a man", ["the man"] * 3), ("the park", ["the bench"] * 3), ("the park", ["the park"] * 3)]
    items += [("a man", ["the man"] * 3), ("the park", ["the park"] * 3)]
    c = cider_d(items)
    assert metrics["cider"] == pytest.approx(np.mean(c)) and c[1] == 0 < c[2]
    # lea_soft: Ev1_ALoc weighs the CIDEr of its last item, c[2] (the park; in Arg_List order c[1] = 0);
    # P = ((c0 + c3) 2 1/1 + (c2 + c2 + c4) 3 3/3) / (2^2 + 3^2), R = 4/5
    p, r = (2 * (c[0] + c[3]) + 3 * (2 * c[2] + c[4])) / 13, 4 / 5
    assert metrics["lea_soft"] == pytest.approx(2 * p * r / (p + r))


def test_reference_permutation_seed5(tmp_path: Path) -> None:
    clip0 = [annotation({"Ev1": {"Arg0": f"first {k}"}}) for k in range(3)]
    clip1 = [annotation({"Ev1": {"Arg0": f"person number {k}"}}) for k in range(6)]
    clips = load_vidsitu(write_valid(tmp_path, [clip0, clip1]), "valid").clips
    np.random.seed(5)  # evl_fns: one legacy permutation per clip, in ann_idx order
    perms = [np.random.permutation(len(c.annotations)) for c in clips]
    for clip, perm, refs in zip(clips, perms, reference_annotations(clips), strict=True):
        permuted = [clip.annotations[j] for j in perm]
        assert refs == tuple([a for i, a in enumerate(permuted) if i != 3][:3])
    chosen = {f"person number {k}" for k in perms[1][:3]}
    left_out = sorted({f"person number {k}" for k in range(6)} - chosen)
    for text, expected in [(sorted(chosen)[0], 1.0), (left_out[0], rouge_l(left_out[0], sorted(chosen)))]:
        preds = [{"ann_idx": 0, "vb_output": {}}, {"ann_idx": 1, "vb_output": {"Ev1": {"Arg0": text}}}]
        rouge = srl_metrics(preds, clips)["rouge"]
        assert rouge == pytest.approx((0.0 + expected) / 2)
    assert expected < 1.0


# ---------------------------------------------------------------- relations


def _relation_clip(labels: list[str]) -> list[dict]:
    """Three annotations whose Ev1/Ev2/Ev4/Ev5 relations are labels[i] for annotation i."""
    return [annotation(relations=dict.fromkeys(("Ev1", "Ev2", "Ev4", "Ev5"), label)) for label in labels]


def test_relation_majority_rules(tmp_path: Path) -> None:
    clips = [
        _relation_clip(["Causes", "Causes", "Enables"]),  # majority Causes: annotations 0 and 1 count
        _relation_clip(["Causes", "Enables", "NoRel"]),  # no majority: excluded
        _relation_clip(["NoRel", "NoRel", "NoRel"]),
    ]
    clips = load_vidsitu(write_valid(tmp_path, clips), "valid").clips
    preds = [
        {"ann_idx": 0, "pred_evrels_ev": [["Causes", "Enables", "Enables"]] * 4},  # 1 of 2 records right
        {"ann_idx": 1, "pred_evrels_ev": [["Causes", "Enables", "NoRel"]] * 4},  # perfect but excluded
        {"ann_idx": 2, "pred_evrels_ev": [["NoRel", "NoRel", "Causes"]] * 4},  # 2 of 3 right
    ]
    metrics = relation_metrics(preds, clips)
    assert metrics["Len"] == 4 * (2 + 3)
    assert metrics["Top_1"] == pytest.approx(4 * (1 + 2) / 20)
    assert metrics["Macro_Top_1"] == pytest.approx((1 / 2 + 2 / 3) / 2)


def test_relation_uses_file_order_not_permutation(tmp_path: Path) -> None:
    clip = _relation_clip(["Enables", "Enables", "Enables"]) + _relation_clip(["NoRel"])  # 4th ignored
    clips = load_vidsitu(write_valid(tmp_path, [clip]), "valid").clips
    metrics = relation_metrics([{"ann_idx": 0, "pred_evrels_ev": [["Enables"] * 3] * 4}], clips)
    assert metrics["Top_1"] == 1.0 and metrics["Len"] == 12


def test_relation_labels_of_any_kind_are_misses(tmp_path: Path) -> None:
    # evl_fns compares labels with ==: a class id, a lower-case name, "Null" or null never equals the gt
    root = write_valid(
        tmp_path / "vs", [_relation_clip(["Causes", "Causes", "Enables"]), _relation_clip(["NoRel"] * 3)]
    )
    rows0 = [[1, "Causes", "Enables"], ["causes", "Causes", 3], ["Null", None, "x"], ["Causes", "Causes", "Enables"]]
    preds = [{"ann_idx": 0, "pred_evrels_ev": rows0}, {"ann_idx": 1, "pred_evrels_ev": [[4, "norel", "NoRel"]] * 4}]
    metrics = evaluate("evrel", write_predictions(tmp_path / "p.json", preds), root)
    # clip 0, majority Causes (annotations 0 and 1): right 1, 1, 0, 2 of 2 per row = 4 of 8
    # clip 1, NoRel x 3: right 1 of 3 per row = 4 of 12
    assert metrics == pytest.approx({"Top_1": 8 / 20, "Macro_Top_1": (4 / 8 + 4 / 12) / 2, "Len": 20})
    preds[1]["pred_evrels_ev"] = [[4, "norel", "NoRel"]] * 4 + [["ignored"] * 3]  # evl_fns reads rows 0-3
    assert evaluate("evrel", write_predictions(tmp_path / "q.json", preds), root) == pytest.approx(metrics)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ({"Ev1": ["Causes"] * 3}, "pred_evrels_ev should be a list of 4 rows, got dict"),
        ("Causes", "pred_evrels_ev should be a list of 4 rows, got str"),
        ([["Causes"] * 3] * 3, "pred_evrels_ev should be a list of 4 rows, got 3 rows"),
        ([["Causes"] * 2] * 4, "pred_evrels_ev rows should hold 3 labels (one per annotation), got 2"),
        (["CNE"] * 4, "pred_evrels_ev rows should be lists of labels, got str"),
    ],
)
def test_relation_inputs_evl_fns_cannot_read(tmp_path: Path, rows: object, message: str) -> None:
    root = write_valid(tmp_path / "vs", [_relation_clip(["Causes"] * 3)])
    path = write_predictions(tmp_path / "p.json", [{"ann_idx": 0, "pred_evrels_ev": rows}])
    with pytest.raises(AnnotationError) as info:
        evaluate("evrel", path, root)
    assert str(info.value) == f"{path}: entry 0 (ann_idx 0): {message}"


# ---------------------------------------------------------------- evaluate and reading


def test_evaluate_verbs_dispatches_to_verb_metrics(tmp_path: Path) -> None:
    root = write_valid(tmp_path / "vs", [_relation_clip(["Causes"] * 3)] * 2)
    rows = [["push.01", "a.01"], ["shove.01"], ["b.01", "push.01"], ["c.01"], ["push.01"]]
    path = write_predictions(
        tmp_path / "vb.json",
        [
            {"ann_idx": 1, "pred_vbs_ev": rows},
            {"ann_idx": 0, "pred_vbs_ev": rows},
            {"ann_idx": 0, "pred_vbs_ev": [["c.01"]] * 5},
        ],
    )
    expected = verb_metrics([rows, rows], [dict.fromkeys(EVENTS, VERBS)] * 2)
    assert evaluate("vb", path, root) == pytest.approx(expected, nan_ok=True)
    assert expected["acc1"] == pytest.approx(3 / 5)


def test_evaluate_srl_and_evrel_end_to_end(tmp_path: Path) -> None:
    anns = [annotation({"Ev1": {"Arg0": "the man"}, "Ev2": {"Arg0": "the man"}})] * 3
    root = write_valid(tmp_path / "vs", [anns])
    srl = [{"ann_idx": 0, "vb_output": {"Ev1": {"Arg0": "the man"}, "Ev2": {"Arg0": "the man"}}}]
    metrics = evaluate("srl", write_predictions(tmp_path / "srl.json", srl), root)
    assert metrics["rouge"] == pytest.approx(1.0) and metrics["lea"] == pytest.approx(1.0)
    evrel = [{"ann_idx": 0, "pred_evrels_ev": [["Causes"] * 3] * 4}]
    assert evaluate("evrel", write_predictions(tmp_path / "evrel.json", evrel), root)["Top_1"] == 1.0


def test_evaluate_missing_ann_idx(tmp_path: Path) -> None:
    root = write_valid(tmp_path / "vs", [_relation_clip(["Causes"] * 3)] * 7)
    path = write_predictions(tmp_path / "p.json", [{"ann_idx": 2, "pred_evrels_ev": [["Causes"] * 3] * 4}])
    with pytest.raises(HiermovieError, match=r"6 of 7 valid clips are missing \(ann_idx 0, 1, 3, 4, 5, \.\.\.\)"):
        evaluate("evrel", path, root)


def test_evaluate_rejects_bad_entries(tmp_path: Path) -> None:
    root = write_valid(tmp_path / "vs", [_relation_clip(["Causes"] * 3)])
    path = write_predictions(tmp_path / "p.json", [{"ann_idx": 0, "pred_evrels_ev": [["Causes"] * 3] * 3}])
    with pytest.raises(
        AnnotationError, match=r"p\.json: entry 0 \(ann_idx 0\): pred_evrels_ev should be a list of 4 rows"
    ):
        evaluate("evrel", path, root)
    path = write_predictions(tmp_path / "q.json", [{"ann_idx": 5, "pred_evrels_ev": [["Causes"] * 3] * 4}])
    with pytest.raises(AnnotationError, match="entry 0: ann_idx 5 is outside"):
        evaluate("evrel", path, root)
    with pytest.raises(HiermovieError, match="unknown VidSitu task"):
        evaluate("captions", path, root)


def test_verb_ids_of_any_kind_are_misses(tmp_path: Path) -> None:
    root = write_valid(tmp_path / "vs", [_relation_clip(["Causes"] * 3)])
    rows = [["push.01"], [7, "shove.01"], ["PUSH.01", None], [1.5], ["push.01"], ["extra.01"]]  # row 6 ignored
    metrics = evaluate("vb", write_predictions(tmp_path / "vb.json", [{"ann_idx": 0, "pred_vbs_ev": rows}]), root)
    assert metrics == pytest.approx(verb_metrics([rows[:5]], [dict.fromkeys(EVENTS, VERBS)]), nan_ok=True)
    assert (metrics["acc1"], metrics["acc5"]) == pytest.approx((2 / 5, 3 / 5))
    path = write_predictions(tmp_path / "bad.json", [{"ann_idx": 0, "pred_vbs_ev": [[["push.01"]]] * 5}])
    with pytest.raises(AnnotationError, match="pred_vbs_ev verb ids should be strings"):  # evl_fns: a set of them
        evaluate("vb", path, root)


def test_partial_scores_the_clips_present(tmp_path: Path) -> None:
    # 3 clips of 5 annotations with distinct phrases; predictions for clips 1 and 2 only
    anns = [[annotation({"Ev1": {"Arg0": f"man {c} {k}", "AScn": f"room {k}"}}) for k in range(5)] for c in range(3)]
    root = write_valid(tmp_path / "vs", anns)
    preds = [{"ann_idx": c, "vb_output": {"Ev1": {"Arg0": f"man {c} 0", "AScn": "room 0"}}} for c in (2, 1)]
    path = write_predictions(tmp_path / "p.json", preds)
    with pytest.raises(HiermovieError, match=r"1 of 3 valid clips are missing \(ann_idx 0\); --partial scores only"):
        evaluate("srl", path, root)
    metrics = evaluate("srl", path, root, partial=True)

    def items(perms: list[np.ndarray], scored: dict[int, int]) -> list[tuple[str, list[str]]]:
        """The items of the scored clips (clip -> its permutation's index in `perms`)."""
        out = []
        for c, p in scored.items():
            refs = [k for i, k in enumerate(perms[p]) if i != 3][:3]
            out += [(f"man {c} 0", [f"man {c} {k}" for k in refs]), ("room 0", [f"room {k}" for k in refs])]
        return out

    np.random.seed(5)
    perms = [np.random.permutation(5) for _ in range(3)]  # drawn for every clip of the split, as evl_fns
    expected = items(perms, {1: 1, 2: 2})
    assert metrics["cider"] == pytest.approx(np.mean(cider_d(expected)))  # IDF from the scored clips only
    assert metrics["rouge"] == pytest.approx(mean_rouge(expected))
    assert metrics["rouge"] != pytest.approx(mean_rouge(items(perms, {1: 0, 2: 1})))  # drawn for the present only

    verbs = [{"ann_idx": 1, "pred_vbs_ev": [["push.01"]] * 5}]
    assert evaluate("vb", write_predictions(tmp_path / "vb.json", verbs), root, partial=True)["acc1"] == 1.0
    relations = [{"ann_idx": 2, "pred_evrels_ev": [["Causes", 1, "Causes"]] * 4}]
    relation = evaluate("evrel", write_predictions(tmp_path / "evrel.json", relations), root, partial=True)
    assert relation["Top_1"] == pytest.approx(2 / 3) and relation["Len"] == 12
    with pytest.raises(HiermovieError, match=r"p\.json: no predictions to score"):
        evaluate("vb", write_predictions(tmp_path / "p.json", []), root, partial=True)
    with pytest.raises(AnnotationError, match="ann_idx 3 is outside the valid split"):  # a KeyError in evl_fns
        evaluate("vb", write_predictions(tmp_path / "p.json", [{**verbs[0], "ann_idx": 3}]), root, partial=True)


def test_cli_partial_and_one_line_errors(tmp_path: Path) -> None:
    root = write_valid(tmp_path / "vs", [_relation_clip(["Causes"] * 3)] * 2)
    path = write_predictions(tmp_path / "evrel.json", [{"ann_idx": 1, "pred_evrels_ev": [[2, "Causes", "Causes"]] * 4}])
    command = [
        sys.executable,
        "-m",
        "hiermovie",
        "evaluate",
        "--task",
        "evrel",
        "--pred",
        str(path),
        "--ann",
        str(root),
    ]
    scored = subprocess.run([*command, "--partial"], capture_output=True, text=True, timeout=300)
    assert scored.returncode == 0, scored.stderr
    assert json.loads(scored.stdout) == pytest.approx({"Top_1": 2 / 3, "Macro_Top_1": 2 / 3, "Len": 12})
    refused = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert refused.returncode == 2 and refused.stdout == ""
    missing = f"error: {path}: predictions for 1 of 2 valid clips are missing (ann_idx 0); --partial scores only"
    assert refused.stderr.splitlines() == [f"{missing} the clips present"]


def _evaluate_cli(task: str, pred: Path, root: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "hiermovie", "evaluate", "--task", task, "--pred", str(pred), "--ann", str(root)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


# Roles evl_fns stops on with a KeyError; the references are the 3 annotations in file order (the seed-5
# permutation of a 3-annotation clip 0 is the identity). MAN has Ev1 Arg0 and Arg1, ALONE only Arg0.
MAN, ALONE = {"Ev1": {"Arg0": "the man", "Arg1": "the cup"}}, {"Ev1": {"Arg0": "the man"}}
PRED_ARG1 = {"Ev1": {"Arg0": "a man", "Arg1": "a cup"}}


@pytest.mark.parametrize(
    ("references", "prediction", "in_annotations", "problem"),
    [
        # the first reference has Ev1 Arg1, the third lacks it (evl_fns: ref[ev]["Args"][role])
        (
            [MAN, MAN, ALONE],
            PRED_ARG1,
            True,
            "Ev1: reference annotation 3 lacks role 'Arg1 (thing)', which the first reference (annotation 1 of the "
            "clip) has",
        ),
        # the second reference has a role the first lacks, and the prediction fills it (lea_soft: conv11[mention])
        (
            [ALONE, MAN, MAN],
            PRED_ARG1,
            True,
            "Ev1: the first reference (annotation 1 of the clip) lacks role 'Arg1 (thing)', which reference "
            "annotation 2 has and the prediction fills (Arg1)",
        ),
        # an annotation-format prediction with a role the first reference lacks (lea_soft: conv11[mention])
        (
            [ALONE] * 3,
            annotation(MAN),
            False,
            "vb_output Ev1 Args role 'Arg1 (thing)' is not a role of the first reference (annotation 1 of the clip)",
        ),
    ],
)
def test_cli_roles_evl_fns_cannot_score_are_one_line_errors(
    tmp_path: Path, references: list[dict], prediction: dict, in_annotations: bool, problem: str
) -> None:
    root = write_valid(tmp_path / "vs", [[annotation(roles) for roles in references]])
    path = write_predictions(tmp_path / "srl.json", [{"ann_idx": 0, "vb_output": prediction}])
    result = _evaluate_cli("srl", path, root)
    assert result.returncode == 2 and result.stdout == "", result.stderr
    source = root / "vidsitu_annotations/vseg_ann_files/vsann_valid_lb.json" if in_annotations else path
    where = "clip 0 (v_clip0_seg_0_10)" if in_annotations else "entry 0 (ann_idx 0, clip v_clip0_seg_0_10)"
    assert result.stderr.splitlines() == [f"error: {source}: {where}: {problem}; VidSitu's evaluator cannot score it"]


def test_only_lea_refuses_a_mention_it_cannot_weigh(tmp_path: Path) -> None:
    # the prediction fills Arg1, which only references 2 and 3 have: CIDEr reads the first reference's roles and
    # scores it (the per-epoch selection), LEA's lea_soft cannot weigh the Ev1_Arg1 mention of reference 2
    clips = load_vidsitu(write_valid(tmp_path, [[annotation(r) for r in (ALONE, MAN, MAN)]]), "valid").clips
    preds = [{"ann_idx": 0, "vb_output": PRED_ARG1}]
    assert srl_cider(preds, clips) == 0.0  # one item: IDF 0
    with pytest.raises(UnscorableClip, match=r"^clip 0 \(v_clip0_seg_0_10\): Ev1: the first reference") as info:
        srl_metrics(preds, clips)
    assert str(pickle.loads(pickle.dumps(info.value))) == str(info.value)  # raised in a worker, re-raised here


def test_cli_writes_an_undefined_rec5_as_null(tmp_path: Path) -> None:
    # one clip: each verb of vbid_lst gets 5 records (one per event), none more than 9, so no verb qualifies for
    # Rec@5: undefined, NaN (evl_fns' get_avg says 0), and the JSON stays standard: null, not NaN
    root = write_valid(tmp_path / "vs", [_relation_clip(["Causes"] * 3)])
    path = write_predictions(tmp_path / "vb.json", [{"ann_idx": 0, "pred_vbs_ev": [["push.01"]] * 5}])
    assert math.isnan(evaluate("vb", path, root)["rec5"])
    result = _evaluate_cli("vb", path, root)
    assert result.returncode == 0, result.stderr

    def refuse(constant: str) -> None:
        raise AssertionError(f"not standard JSON: {constant}")

    metrics = json.loads(result.stdout, parse_constant=refuse)
    assert metrics["rec5"] is None and metrics["rec5_verbs"] == 0 and metrics["acc1"] == 1.0


def test_read_predictions_refuses_pickle_without_opt_in(tmp_path: Path) -> None:
    path = tmp_path / "preds.pkl"
    path.write_bytes(pickle.dumps([{"ann_idx": 0}]))
    with pytest.raises(HiermovieError, match=r"preds\.pkl: pickled predictions load only with --allow-pickle"):
        read_predictions(path)
    assert read_predictions(path, allow_pickle=True) == [{"ann_idx": 0}]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "invalid JSON"),
        ('{"ann_idx": 0}', "expected a list"),
        ('[{"ann_idx": 0}, 3]', "entry 1: expected an object"),
        ('[{"ann_idx": "0"}]', "entry 0: 'ann_idx' should be a non-negative integer"),
    ],
)
def test_read_predictions_malformed(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(AnnotationError, match=message) as info:
        read_predictions(path)
    assert str(info.value).startswith(str(path))


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="VidSitu example predictions not available")
def test_example_files_parse() -> None:
    vb = read_predictions(EXAMPLES / "vb_eg.pkl", allow_pickle=True)
    assert sorted(e["ann_idx"] for e in vb) == list(range(30))
    assert all(len(e["pred_vbs_ev"]) == 5 and all(len(row) == 5 for row in e["pred_vbs_ev"]) for e in vb)
    evrel = read_predictions(EXAMPLES / "evrel_eg.pkl", allow_pickle=True)
    assert len(evrel) == 30 and all(np.shape(e["pred_evrels_ev"]) == (4, 3) for e in evrel)
    for name, count in [("vbarg_eg.pkl", 30), ("a.json", 2)]:
        srl = read_predictions(EXAMPLES / name, allow_pickle=True)
        assert len(srl) == count and all(set(e["vb_output"]) == set(EVENTS) for e in srl)
        assert all(isinstance(text, str) for e in srl for ev in e["vb_output"].values() for text in ev.values())
