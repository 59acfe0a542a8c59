"""VidSitu verb metrics on small examples worked out by hand."""

import math

import pytest

from hiermovie.verb_metrics import verb_metrics


def _top5(*verbs: str) -> list[str]:
    return list(verbs) + [f"pad{i}" for i in range(5 - len(verbs))]


# Clip 0: 5 events, each with 10 annotators' verbs.
REFS_0 = {
    "Ev1": ["run"] * 6 + ["walk"] * 4,
    "Ev2": ["talk"] * 10,
    "Ev3": ["hit"] * 3 + ["punch"] * 2 + ["kick", "push", "shove", "grab", "fall"],
    "Ev4": ["drive"] * 10,
    "Ev5": ["run"] * 5 + ["jump"] * 5,
}
PREDS_0 = [
    _top5("walk", "run"),  # top-1 hit (walk), top-5 hit
    _top5("shout", "yell", "talk"),  # top-1 miss, top-5 hit
    _top5("kick"),  # top-1 hit (one annotator's verb counts), top-5 hit
    _top5("ride", "sit"),  # miss, miss
    _top5("run"),  # hit, hit
]
# Clip 1: every event hit at top 1.
REFS_1 = [["talk"] * 10, ["run"] * 10, ["talk"] * 9 + ["nod"], ["walk"] * 10, ["sit"] * 10]
PREDS_1 = [_top5("talk"), _top5("run"), _top5("nod", "talk"), _top5("walk"), _top5("sit")]


def test_accuracy_worked_example():
    got = verb_metrics([PREDS_0, PREDS_1], [REFS_0, REFS_1])
    # event hits @1: clip 0 [1, 0, 1, 0, 1], clip 1 [1, 1, 1, 1, 1] -> 8/10
    assert got["acc1"] == pytest.approx(0.8)
    # event hits @5: clip 0 [1, 1, 1, 0, 1], clip 1 all -> 9/10
    assert got["acc5"] == pytest.approx(0.9)
    assert got["per_video_acc1"] == pytest.approx(0.5)  # only clip 1 hits every event
    assert got["per_video_acc5"] == pytest.approx(0.5)  # clip 0 misses Ev4


def test_recall_worked_example():
    # Verbs chosen by >= 2 annotators, with "in top 5?" per event:
    #   clip 0: run (Ev1) yes, walk (Ev1) yes, talk (Ev2) yes, hit no, punch no, drive no, run (Ev5) yes, jump no
    #   clip 1: talk yes, run yes, talk (Ev3; nod has one vote) yes, walk yes, sit yes
    # per verb: run 3/3, walk 2/2, talk 3/3, hit 0/1, punch 0/1, drive 0/1, jump 0/1, sit 1/1
    got = verb_metrics([PREDS_0, PREDS_1], [REFS_0, REFS_1], recall_threshold=0)
    assert got["rec5_verbs"] == 8
    assert got["rec5"] == pytest.approx((1 + 1 + 1 + 0 + 0 + 0 + 0 + 1) / 8)
    got = verb_metrics([PREDS_0, PREDS_1], [REFS_0, REFS_1], recall_threshold=1)  # run, walk, talk
    assert got["rec5_verbs"] == 3
    assert got["rec5"] == pytest.approx(1.0)
    got = verb_metrics([PREDS_0, PREDS_1], [REFS_0, REFS_1], recall_threshold=2)  # run, talk
    assert got["rec5_verbs"] == 2


def test_recall_averages_per_verb_before_averaging_verbs():
    # "a" has 4 records (3 hits), "b" has 2 records (0 hits): macro = (3/4 + 0) / 2, not 3/6
    refs = [[["a", "a"], ["a", "a"], ["a", "a"], ["a", "a"], ["b", "b"]], [["b", "b"]] * 5]
    preds = [[["a"], ["a"], ["a"], ["x"], ["x"]], [["x"]] * 5]
    got = verb_metrics(preds, refs, recall_threshold=1)
    assert got["rec5_verbs"] == 2  # a: 4 records, b: 6 records
    assert got["rec5"] == pytest.approx((3 / 4 + 0 / 6) / 2)


def test_only_top5_and_first10_annotators_count():
    refs = [[["late"] + ["a"] * 9 + ["z"] * 5] + [["b"] * 10] * 4]  # z is the 11th+ annotator: ignored
    preds = [[["p1", "p2", "p3", "p4", "p5", "z", "late"]] + [["b"]] * 4]  # "late" is 7th: ignored
    got = verb_metrics(preds, refs, recall_threshold=0)
    assert got["acc5"] == pytest.approx(4 / 5)
    assert got["rec5_verbs"] == 2  # a and b; z never counted
    assert got["rec5"] == pytest.approx(0.5)


def test_train_style_single_annotator_has_no_recall():
    refs = [[["run"], ["walk"], ["talk"], ["sit"], ["jump"]]]
    preds = [[["run"], ["x", "walk"], ["talk"], ["x"], ["jump"]]]
    got = verb_metrics(preds, refs, recall_threshold=0)
    assert got["acc1"] == pytest.approx(3 / 5)
    assert got["acc5"] == pytest.approx(4 / 5)
    assert math.isnan(got["rec5"])
    assert got["rec5_verbs"] == 0


def test_default_threshold_needs_more_than_nine_records():
    refs = [[["v", "v"]] * 5, [["v", "v"]] * 5]  # 10 records of v
    preds = [[["v"]] * 5, [["v"]] * 5]
    assert verb_metrics(preds, refs)["rec5_verbs"] == 1
    assert math.isnan(verb_metrics(preds[:1], refs[:1])["rec5"])  # 5 records: none qualify at 9


def test_dict_and_list_events_agree():
    as_lists = [[REFS_0[f"Ev{k}"] for k in range(1, 6)], REFS_1]
    preds_as_dicts = [{f"Ev{k}": p for k, p in enumerate(PREDS_0, 1)}, PREDS_1]
    assert verb_metrics(preds_as_dicts, as_lists, 0) == verb_metrics([PREDS_0, PREDS_1], [REFS_0, REFS_1], 0)


def test_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="clips"):
        verb_metrics([PREDS_0], [REFS_0, REFS_1])
    with pytest.raises(ValueError, match="events"):
        verb_metrics([PREDS_0[:4]], [REFS_0])
    with pytest.raises(ValueError, match="Ev1"):
        verb_metrics([PREDS_0], [{"Ev1": ["a"], "Ev3": ["b"]}])
    with pytest.raises(ValueError, match="no clips"):
        verb_metrics([], [])
