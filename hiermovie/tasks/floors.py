"""The floor row of each task table: what a model that never looks at the video scores (issue 13).

Each predicts the training split's most common answer for every item, in the task's own prediction
format, scored by the same official metric as the learned rows. The SRL floor is the `blind` row of
`runs.py` (TxD trained on the verb alone), not a constant: it needs training to be a fair floor.
"""

from collections import Counter

import numpy as np

from hiermovie.datasets.lvu import LVU_TASKS
from hiermovie.datasets.vidsitu import EVENTS, RELATIONS, VidSituClip
from hiermovie.tasks.lvu_data import lvu_metric
from hiermovie.tasks.vidsitu_data import relation_labels, training_verbs
from hiermovie.tasks.vidsitu_eval import NUM_REFS, relation_metrics, verb_prediction_metrics

TOP_K = 5  # VidSitu's top-5 verbs per event


def verb_floor(train: tuple[VidSituClip, ...], valid: tuple[VidSituClip, ...]) -> dict[str, float]:
    """Table 4's floor: the 5 most frequent training verbs, most frequent first, for every valid event."""
    counts = Counter(verb for clip in train for verb in training_verbs(clip))
    ranked = sorted(counts, key=lambda verb: (-counts[verb], verb))[:TOP_K]  # ties by id: deterministic
    scores = [counts[verb] / sum(counts.values()) for verb in ranked]
    predictions = [
        {"ann_idx": clip.ann_idx, "pred_vbs_ev": [ranked] * len(EVENTS), "pred_scores_ev": [scores] * len(EVENTS)}
        for clip in valid
    ]
    return verb_prediction_metrics(predictions, valid)


def relation_floor(train: tuple[VidSituClip, ...], valid: tuple[VidSituClip, ...]) -> dict[str, float]:
    """Table 3's floor: the most frequent training relation for every pair (its Mean-Acc is 1 / 4)."""
    counts = Counter(label for clip in train for label in relation_labels(clip))
    majority = min(counts, key=lambda label: (-counts[label], label))
    prior = [counts[label] / sum(counts.values()) for label in range(len(RELATIONS))]
    predictions = [
        {
            "ann_idx": clip.ann_idx,
            "pred_evrels_ev": [[RELATIONS[majority]] * NUM_REFS] * 4,
            "pred_scores_ev": [prior] * 4,
        }
        for clip in valid
    ]
    return relation_metrics(predictions, valid)


def lvu_floor(task: str, train_labels: np.ndarray, labels: np.ndarray) -> float:
    """Table 5's floor: the training majority class (classification), or the training mean under MSE."""
    train_labels, labels = np.asarray(train_labels), np.asarray(labels)
    if LVU_TASKS[task] == 0:
        constant = float(train_labels.mean())
    else:
        values, counts = np.unique(train_labels.astype(int), return_counts=True)
        constant = int(values[counts.argmax()])  # the smallest id among equally frequent classes
    return lvu_metric(task, np.full(len(labels), constant), labels)
