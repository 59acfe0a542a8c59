"""Floors: constant predictions from the training split, scored by the official metrics."""

from collections import Counter

import numpy as np
import pytest

from hiermovie.datasets.vidsitu import EVENTS, load_vidsitu
from hiermovie.tasks.floors import lvu_floor, relation_floor, verb_floor
from hiermovie.tasks.vidsitu_data import training_verbs


@pytest.fixture(scope="module")
def splits(tiny_benchmark):
    return tuple(load_vidsitu(tiny_benchmark / "vidsitu", split).clips for split in ("train", "valid"))


def test_lvu_floor_worked_examples():
    # majority class 0 of the training labels; 1 of 4 test movies is class 0
    assert lvu_floor("scene", np.array([0, 0, 1]), np.array([0, 1, 1, 2])) == pytest.approx(0.25)
    # regression: the training mean 2.0; MSE of (2 - 2)^2 and (4 - 2)^2
    assert lvu_floor("like_ratio", np.array([1.0, 3.0]), np.array([2.0, 4.0])) == pytest.approx(2.0)
    # equally frequent classes: the smallest id
    assert lvu_floor("genre", np.array([3, 1, 3, 1]), np.array([1, 1, 3])) == pytest.approx(2 / 3)


def test_verb_floor_is_the_training_majority(splits):
    train, valid = splits
    counts = Counter(verb for clip in train for verb in training_verbs(clip))
    majority = min(counts, key=lambda verb: (-counts[verb], verb))
    metrics = verb_floor(train, valid)
    # VidSitu Acc@1: an event counts as right if its top-1 verb has >= 2 of the valid votes
    right = [sum(v == majority for v in clip.verb_ids[ev]) >= 2 for clip in valid for ev in EVENTS]
    assert metrics["acc1"] == pytest.approx(np.mean(right))
    assert metrics["acc5"] >= metrics["acc1"]


def test_relation_floor_mean_accuracy_is_one_over_the_classes(splits):
    train, valid = splits
    metrics = relation_floor(train, valid)
    # one class always right, every other always wrong: macro accuracy 1 / (classes with records)
    assert 1 / metrics["Macro_Top_1"] == pytest.approx(round(1 / metrics["Macro_Top_1"]))
    assert 0 < metrics["Macro_Top_1"] <= 0.5
