"""LEA of VidSitu role fillers: hand-worked examples and an independent reading of evl_fns + the coval fork."""

import itertools
import random

import pytest

from hiermovie.datasets.vidsitu import EVENTS, ClipAnnotation, EventAnnotation, RoleFiller, arg_mapper
from hiermovie.tasks.lea import key_mentions, lea, lea_f1, role_clusters, srl_lea, system_mentions

LOC, LOC2 = "ArgM (location)", "ArgM (location, second)"  # two role names that arg_mapper maps to ALoc


def reference(args: dict[str, dict[str, str]]) -> ClipAnnotation:
    """An annotation from VidSitu `Args` per event ({ev: {raw role name: text}}), fillers in that order (the
    Arg_List order too)."""
    fillers = {
        ev: tuple(RoleFiller(name, arg_mapper(name), text) for name, text in args.get(ev, {}).items()) for ev in EVENTS
    }
    return ClipAnnotation(
        events={
            ev: EventAnnotation(verb="push", verb_id="push.01", roles=fillers[ev], args=fillers[ev], relation=None)
            for ev in EVENTS
        }
    )


def annotation_format(args: dict[str, dict[str, str]]) -> dict[str, dict]:
    """A `vb_output` in annotation format (a human-agreement run): every event carries `Args`."""
    return {ev: {"VerbID": "push.01", "Args": args.get(ev, {})} for ev in EVENTS}


# ---------------------------------------------------------------- an independent reading of the protocol


def official_mentions(args: dict[str, dict[str, str]]) -> list[tuple[str, str]]:
    """evl_fns get_coref_dct_for_gt1, flattened: (f"{ev}_{role}", text) over Args, roles Arg0-2/ALoc/AScn."""
    out = []
    for ev in EVENTS:
        for name, text in args.get(ev, {}).items():
            if arg_mapper(name) in ("Arg0", "Arg1", "Arg2", "ALoc", "AScn"):
                out.append((f"{ev}_{arg_mapper(name)}", text))
    return out


def official_pred_mentions(pred: dict, ref_args: dict[str, dict[str, str]]) -> list[tuple[str, str]]:
    """evl_fns get_coref_dct_for_pred: per role name of the reference, the prediction's phrase for its role."""
    if "Args" in pred["Ev1"]:
        return official_mentions({ev: pred[ev]["Args"] for ev in EVENTS})
    return [(m, pred[m[:3]][m[4:]]) for m, _ in official_mentions(ref_args) if m[4:] in pred.get(m[:3], {})]


def official_counts(key: list[tuple[str, str]], sys: list[tuple[str, str]], cider: dict | None = None) -> list:
    """coval Evaluator.update with lea (or lea_soft, sys weights from `cider`) on mention lists."""

    def entities(mentions):
        texts, groups = [], []
        for mention, text in mentions:
            if text not in texts:
                texts.append(text)
                groups.append([])
            groups[texts.index(text)].append(mention)
        return groups

    def side(c_in, c_out, weights):
        assigned = {}
        for index, entity in enumerate(c_out):
            for mention in entity:
                assigned[mention] = index  # get_mention_assignments: the last entity wins
        num = den = 0
        for entity in c_in:
            if len(entity) == 1:
                m = entity[0]
                resolved, links = int(m in assigned and len(c_out[assigned[m]]) == 1), 1
            else:
                pairs = list(itertools.combinations(entity, 2))
                resolved = sum(a in assigned and b in assigned and assigned[a] == assigned[b] for a, b in pairs)
                links = len(pairs)
            scale = 1 if weights is None else sum(weights.get(m, 0.0) for m in entity)
            num += scale * len(entity) * resolved / links
            den += len(entity) * (1 if weights is None else len(entity))
        return [num, den]

    k, s = entities(key), entities(sys)
    return side(s, k, cider) + side(k, s, None)


def official_lea(clips: list[tuple[dict, list[dict]]], ciders: list[dict]) -> tuple[float, float]:
    """get_coref_from_orig_hyp_gts_dcts: (lea, lea_soft), the per-reference corpus F1 averaged over refs."""
    f1 = {"lea": [], "soft": []}
    for g in range(3):
        totals = {"lea": [0, 0, 0, 0], "soft": [0, 0, 0, 0]}
        for (pred, refs), cider in zip(clips, ciders, strict=True):
            if "Ev1" not in pred:
                continue
            key, sys = official_mentions(refs[g]), official_pred_mentions(pred, refs[g])
            for name, weights in (("lea", None), ("soft", cider)):
                totals[name] = [a + b for a, b in zip(totals[name], official_counts(key, sys, weights), strict=True)]
        for name, (pn, pd, rn, rd) in totals.items():
            p, r = (pn / pd if pd else 0), (rn / rd if rd else 0)
            f1[name].append(2 * p * r / (p + r) if p + r else 0)
    return sum(f1["lea"]) / 3, sum(f1["soft"]) / 3


# ---------------------------------------------------------------- hand-worked examples


def test_notes_worked_example() -> None:
    # notes 2.2: P = 3/5, R = 4/5, F1 = 0.6857
    key = [("Ev1_Arg0", "man in red"), ("Ev2_Arg0", "man in red"), ("Ev2_Arg1", "the door")]
    key += [("Ev3_Arg0", "woman"), ("Ev3_AScn", "a hallway")]
    sys = [("Ev1_Arg0", "a man"), ("Ev2_Arg0", "a man"), ("Ev2_Arg1", "a man"), ("Ev3_Arg0", "a woman")]
    sys += [("Ev3_AScn", "a hallway")]
    p_num, p_den, r_num, r_den = lea(role_clusters(key), role_clusters(sys))
    assert (p_num / p_den, r_num / r_den) == pytest.approx((0.6, 0.8))
    assert round(lea_f1(p_num, p_den, r_num, r_den), 4) == 0.6857
    assert [p_num, p_den, r_num, r_den] == pytest.approx(official_counts(key, sys))


def test_perfect_and_missing_mentions() -> None:
    key = role_clusters([("Ev1_Arg0", "a"), ("Ev2_Arg0", "a"), ("Ev3_Arg1", "b")])
    assert lea(key, key) == (3.0, 3.0, 3.0, 3.0)
    # an unpredicted singleton is not resolved; the predicted pair is
    assert lea(key, role_clusters([("Ev1_Arg0", "x"), ("Ev2_Arg0", "x")])) == (2.0, 2.0, 2.0, 3.0)


# Case 1: two role names of Ev1 map to ALoc. Reference:
#   Ev1: Arg0 "the man", ArgM (location) "the park", ArgM (location, second) "the bench"
#   Ev2: Arg0 "the man", Scene of the Event "the park"
# prediction (vb_output): Ev1 {Arg0 "a man", ALoc "the park"}, Ev2 {Arg0 "a man", AScn "a park"}
DUPLICATE_REF = {
    "Ev1": {"Arg0 (pusher)": "the man", LOC: "the park", LOC2: "the bench"},
    "Ev2": {"Arg0 (pusher)": "the man", "Scene of the Event": "the park"},
}
DUPLICATE_PRED = {ev: {} for ev in EVENTS} | {
    "Ev1": {"Arg0": "a man", "ALoc": "the park"},
    "Ev2": {"Arg0": "a man", "AScn": "a park"},
}


def test_repeated_mention_id_worked_example() -> None:
    ref = reference(DUPLICATE_REF)
    # mentions: one per role name, so Ev1_ALoc twice on both sides
    key = [("Ev1_Arg0", "the man"), ("Ev1_ALoc", "the park"), ("Ev1_ALoc", "the bench")]
    key += [("Ev2_Arg0", "the man"), ("Ev2_AScn", "the park")]
    sys = [("Ev1_Arg0", "a man"), ("Ev1_ALoc", "the park"), ("Ev1_ALoc", "the park")]
    sys += [("Ev2_Arg0", "a man"), ("Ev2_AScn", "a park")]
    assert key_mentions(ref) == key and system_mentions(DUPLICATE_PRED, ref) == sys
    # entities: K0 {Ev1_Arg0, Ev2_Arg0}, K1 {Ev1_ALoc, Ev2_AScn}, K2 {Ev1_ALoc};
    #           S0 {Ev1_Arg0, Ev2_Arg0}, S1 {Ev1_ALoc, Ev1_ALoc}, S2 {Ev2_AScn}
    assert role_clusters(key) == [["Ev1_Arg0", "Ev2_Arg0"], ["Ev1_ALoc", "Ev2_AScn"], ["Ev1_ALoc"]]
    assert role_clusters(sys) == [["Ev1_Arg0", "Ev2_Arg0"], ["Ev1_ALoc", "Ev1_ALoc"], ["Ev2_AScn"]]
    # key -> sys: Ev1_Arg0, Ev2_Arg0 -> S0, Ev1_ALoc -> S1, Ev2_AScn -> S2
    # R: K0 its 1 link in S0: 2; K1 split over S1/S2: 0; K2 a singleton but S1 has 2 mentions: 0  => 2/5
    # sys -> key: Ev1_Arg0, Ev2_Arg0 -> K0, Ev1_ALoc -> K2 (the last entity holding it), Ev2_AScn -> K1
    # P: S0 1 link in K0: 2; S1 its link (Ev1_ALoc, Ev1_ALoc) both in K2: 2; S2 singleton, K1 has 2: 0  => 4/5
    counts = lea(role_clusters(key), role_clusters(sys))
    assert counts == (4.0, 5.0, 2.0, 5.0) and list(counts) == official_counts(key, sys)
    assert lea_f1(*counts) == pytest.approx(8 / 15)  # 2 (4/5)(2/5) / (6/5)
    # keyed by mention id (one filler per id, the last) both sides would be {Ev1_Arg0, Ev2_Arg0}, {Ev1_ALoc},
    # {Ev2_AScn}: F1 1.0
    # lea_soft with weights Ev1_Arg0 2, Ev2_Arg0 1, Ev1_ALoc 0.5, Ev2_AScn 3:
    # P = ((2 + 1) 2 1/1 + (0.5 + 0.5) 2 1/1 + 3 1 0) / (4 + 4 + 1) = 8/9, R = 2/5, F1 = 16/29
    weights = {"Ev1_Arg0": 2.0, "Ev2_Arg0": 1.0, "Ev1_ALoc": 0.5, "Ev2_AScn": 3.0}
    soft = lea(role_clusters(key), role_clusters(sys), weights)
    assert soft == (8.0, 9.0, 2.0, 5.0) and list(soft) == pytest.approx(official_counts(key, sys, weights))
    assert lea_f1(*soft) == pytest.approx(16 / 29)
    scores = srl_lea([DUPLICATE_PRED], [(ref,) * 3], [weights])
    assert scores == pytest.approx({"lea": 8 / 15, "lea_soft": 16 / 29})


# Case 2: a prediction in annotation format; its own Args give the system mentions. Reference:
#   Ev1: Arg0 "the man", Arg1 "the ball", ArgM (location) "the park";  Ev2: Arg0 "the man", Scene "the park"
# prediction Args: Ev1 {Arg0 "a boy", Arg1 "a boy", ArgM (manner) "fast"}, Ev2 {Arg0 "a boy", Scene "outside"}
ANNOTATION_REF = {
    "Ev1": {"Arg0 (pusher)": "the man", "Arg1 (pushed)": "the ball", LOC: "the park"},
    "Ev2": {"Arg0 (pusher)": "the man", "Scene of the Event": "the park"},
}
ANNOTATION_PRED = annotation_format(
    {
        "Ev1": {"Arg0 (pusher)": "a boy", "Arg1 (pushed)": "a boy", "ArgM (manner)": "fast"},
        "Ev2": {"Arg0 (pusher)": "a boy", "Scene of the Event": "outside"},
    }
)


def test_annotation_format_worked_example() -> None:
    ref = reference(ANNOTATION_REF)
    key = [("Ev1_Arg0", "the man"), ("Ev1_Arg1", "the ball"), ("Ev1_ALoc", "the park")]
    key += [("Ev2_Arg0", "the man"), ("Ev2_AScn", "the park")]
    sys = [("Ev1_Arg0", "a boy"), ("Ev1_Arg1", "a boy"), ("Ev2_Arg0", "a boy"), ("Ev2_AScn", "outside")]  # no AMnr
    assert key_mentions(ref) == key and system_mentions(ANNOTATION_PRED, ref) == sys
    # K0 {Ev1_Arg0, Ev2_Arg0}, K1 {Ev1_Arg1}, K2 {Ev1_ALoc, Ev2_AScn}; S0 {Ev1_Arg0, Ev1_Arg1, Ev2_Arg0}, S1 {Ev2_AScn}
    assert role_clusters(sys) == [["Ev1_Arg0", "Ev1_Arg1", "Ev2_Arg0"], ["Ev2_AScn"]]
    # R: K0 its link in S0: 2; K1 singleton, S0 has 3: 0; K2 Ev1_ALoc unpredicted: 0  => 2/5
    # P: S0 1 of its 3 links (Ev1_Arg0, Ev2_Arg0) in K0: 3 * 1/3 = 1; S1 singleton, K2 has 2: 0  => 1/4
    counts = lea(role_clusters(key), role_clusters(sys))
    assert counts == (1.0, 4.0, 2.0, 5.0) and list(counts) == official_counts(key, sys)
    assert lea_f1(*counts) == pytest.approx(4 / 13)  # 2 (1/4)(2/5) / (13/20)
    # (read as a vb_output, from the reference's role set, the annotation has no "Arg0"... keys: no system
    # mentions, P = R = 0)
    zero = dict.fromkeys(("Ev1_Arg0", "Ev1_Arg1", "Ev1_ALoc", "Ev2_Arg0", "Ev2_AScn"), 0.0)
    assert srl_lea([ANNOTATION_PRED], [(ref,) * 3], [zero]) == pytest.approx({"lea": 4 / 13, "lea_soft": 0.0})


def test_srl_lea_matches_independent_reading_on_random_clips() -> None:
    rng = random.Random(0)
    names = ["Arg0 (pusher)", "Arg1 (pushed)", "Arg2 (with)", LOC, LOC2, "Scene of the Event", "ArgM (manner)"]
    texts = ["the man", "a man", "the park", "a ball", "outside"]
    clips, ciders = [], []
    for clip in range(12):
        roles = {ev: rng.sample(names, rng.randint(0, 4)) for ev in EVENTS}  # one role set for the 3 refs
        refs = [{ev: {n: rng.choice(texts) for n in roles[ev]} for ev in EVENTS} for _ in range(3)]
        if clip % 3 == 0:  # annotation format, a subset of the reference's role names
            pred = annotation_format(
                {ev: {n: rng.choice(texts) for n in roles[ev] if rng.random() < 0.7} for ev in EVENTS}
            )
        else:
            pred = {ev: {arg_mapper(n): rng.choice(texts) for n in roles[ev] if rng.random() < 0.7} for ev in EVENTS}
        if clip == 4:
            del pred["Ev1"]  # skipped by evl_fns
        clips.append((pred, refs))
        ciders.append({m: rng.uniform(0, 3) for m, _ in official_mentions(refs[0])})
    expected = official_lea(clips, ciders)
    annotations = [tuple(reference(ref) for ref in refs) for _, refs in clips]
    scores = srl_lea([pred for pred, _ in clips], annotations, ciders)
    assert (scores["lea"], scores["lea_soft"]) == pytest.approx(expected, rel=1e-12)
    assert 0 < scores["lea"] < 1 and scores["lea_soft"] != pytest.approx(scores["lea"])
