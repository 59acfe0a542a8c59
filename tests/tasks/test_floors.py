"""Floors: constant predictions from the training split, scored by the official metrics."""

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from hiermovie.datasets.vidsitu import (
    EVENTS,
    RELATIONS,
    ClipAnnotation,
    EventAnnotation,
    VidSituClip,
    load_vidsitu,
)
from hiermovie.tasks.floors import lvu_floor, relation_floor, verb_floor
from hiermovie.tasks.vidsitu_data import relation_labels, training_verbs

RELATION_EVENTS = ("Ev1", "Ev2", "Ev4", "Ev5")


@pytest.fixture(scope="module")
def splits(tiny_benchmark):
    return tuple(load_vidsitu(tiny_benchmark / "vidsitu", split).clips for split in ("train", "valid"))


def clip(ann_idx: int, verbs: dict[str, list[str]], relations: list[list[str]] = ()) -> VidSituClip:
    """A clip with these verb ids per event and, per annotation, the relations of Ev1, Ev2, Ev4, Ev5."""
    annotations = tuple(
        ClipAnnotation(
            events={
                ev: EventAnnotation(
                    verb="v",
                    verb_id="v.01",
                    roles=(),
                    args=(),
                    relation=dict(zip(RELATION_EVENTS, labels, strict=True)).get(ev),
                )
                for ev in EVENTS
            }
        )
        for labels in relations
    )
    verb_ids = {ev: tuple(verbs.get(ev, ())) for ev in EVENTS}
    return VidSituClip(f"v_c{ann_idx}_seg_0_10", ann_idx, Path("none.mp4"), {}, verb_ids, annotations)


def test_lvu_floor_worked_examples():
    # majority class 0 of the training labels; 1 of 4 test movies is class 0
    assert lvu_floor("scene", np.array([0, 0, 1]), np.array([0, 1, 1, 2])) == pytest.approx(0.25)
    # regression: the training mean 2.0; MSE of (2 - 2)^2 and (4 - 2)^2
    assert lvu_floor("like_ratio", np.array([1.0, 3.0]), np.array([2.0, 4.0])) == pytest.approx(2.0)
    # equally frequent classes: the smallest id
    assert lvu_floor("genre", np.array([3, 1, 3, 1]), np.array([1, 1, 3])) == pytest.approx(2 / 3)


def test_verb_floor_counts_any_annotators_verb():
    # training verbs (one annotator): push 4, pull 3, drop 2, hold 2, zoom 2, kick 1, lift 1 -> the floor
    # predicts [push, pull, drop, hold, zoom] (ties by id) for every event
    train = (
        clip(0, {"Ev1": ["push.01"], "Ev2": ["push.01"], "Ev3": ["push.01"], "Ev4": ["pull.01"], "Ev5": ["pull.01"]}),
        clip(1, {"Ev1": ["push.01"], "Ev2": ["pull.01"], "Ev3": ["lift.01"], "Ev4": ["drop.01"], "Ev5": ["kick.01"]}),
        clip(2, {"Ev1": ["hold.01"], "Ev2": ["hold.01"], "Ev3": ["drop.01"], "Ev4": ["zoom.01"], "Ev5": ["zoom.01"]}),
    )
    walk = ["walk.01"] * 9
    valid = (
        clip(
            0,
            {
                "Ev1": ["push.01"] + walk,  # push has 1 of the 10 votes: a hit at 1 and 5 (VidSitu)
                "Ev2": ["push.01"] * 2 + walk[1:],  # 2 votes: a hit
                "Ev3": walk + ["sit.01"],  # a miss
                "Ev4": walk + ["pull.01"],  # pull (2nd) has 1 vote: a miss at 1, a hit at 5
                "Ev5": ["sit.01"] * 10,  # a miss
            },
        ),
    )
    metrics = verb_floor(train, valid)
    # a rule needing >= 2 votes would give Acc@1 1/5 and Acc@5 1/5
    assert (metrics["acc1"], metrics["acc5"]) == pytest.approx((2 / 5, 3 / 5))
    assert metrics["per_video_acc1"] == 0.0
    assert math.isnan(metrics["rec5"]) and metrics["rec5_verbs"] == 0  # no verb has more than 9 records


def test_verb_floor_on_the_tiny_benchmark(splits):
    train, valid = splits
    counts = Counter(verb for clip in train for verb in training_verbs(clip))
    ranked = sorted(counts, key=lambda verb: (-counts[verb], verb))[:5]
    metrics = verb_floor(train, valid)
    # VidSitu Acc@k: an event is right if one of the top-k verbs is among its (first 10) annotated verbs
    for k in (1, 5):
        right = [bool(set(ranked[:k]) & set(clip.verb_ids[ev][:10])) for clip in valid for ev in EVENTS]
        assert metrics[f"acc{k}"] == pytest.approx(np.mean(right))


def test_relation_floor_predicts_the_training_majority():
    # training relations (first annotation): Enables 3, Causes 2, NoRel 2, Reaction To 1 -> Enables everywhere
    train = (
        clip(0, {}, [["Enables", "Enables", "Causes", "NoRel"]]),
        clip(1, {}, [["Enables", "Causes", "NoRel", "Reaction To"]]),
    )
    # valid, 3 annotations (columns: Ev1, Ev2, Ev4, Ev5):
    #   Ev1 Causes x3: 3 Causes records; Ev2 Causes, Causes, Enables: 2 Causes records (the majority's);
    #   Ev4 Enables, Enables, NoRel: 2 Enables records; Ev5 Causes, Enables, NoRel: no majority, no records
    valid = (
        clip(
            0,
            {},
            [
                ["Causes", "Causes", "Enables", "Causes"],
                ["Causes", "Causes", "Enables", "Enables"],
                ["Causes", "Enables", "NoRel", "NoRel"],
            ],
        ),
    )
    metrics = relation_floor(train, valid)
    # Enables: right on its 2 of the 7 records; per class Causes 0/5, Enables 2/2. (The valid majority Causes
    # would score Top-1 5/7, NoRel or Reaction To 0 and Mean-Acc 0.)
    assert metrics == pytest.approx({"Top_1": 2 / 7, "Macro_Top_1": 1 / 2, "Len": 7})


def test_relation_floor_on_the_tiny_benchmark(splits):
    train, valid = splits
    counts = Counter(label for clip in train for label in relation_labels(clip))
    majority = RELATIONS[min(counts, key=lambda label: (-counts[label], label))]
    records = []  # (gt, right) of the annotations that agree with a clip-event's >= 2-vote majority
    for clip_ in valid:
        for ev in RELATION_EVENTS:
            gt = [clip_.annotations[i].events[ev].relation for i in range(3)]
            top, votes = Counter(gt).most_common(1)[0]
            records += [(label, label == majority) for label in gt if votes >= 2 and label == top]
    classes = {label for label, _ in records}
    metrics = relation_floor(train, valid)
    assert metrics["Top_1"] == pytest.approx(np.mean([right for _, right in records]))
    assert metrics["Macro_Top_1"] == pytest.approx((majority in classes) / len(classes))
