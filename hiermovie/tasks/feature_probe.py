"""What the cached event tokens carry: linear probes (VidSitu train -> valid) for the verb, the acting
character (Arg0) and the place (AScn), each next to its chance, the majority class of valid. A backbone
that sees actions reads the verb well above chance; one that sees only sets reads the place alone."""

from collections import Counter
from pathlib import Path

import torch

from hiermovie.cache import EventCache
from hiermovie.datasets.vidsitu import EVENTS, VidSituClip
from hiermovie.linear_probe import IGNORE, probe_accuracy
from hiermovie.tasks.vidsitu_data import load_event_features, training_verbs

PROBED_ROLES = {"Arg0 (acting character)": "Arg0", "location (AScn)": "AScn"}  # row name: mapped role
ARTICLES = ("the ", "a ", "an ")


def normalise_phrase(text: str) -> str:
    """A role phrase as a class name: lower case, without a leading article ("The red circle" -> "red circle")."""
    text = " ".join(text.lower().split())
    for article in ARTICLES:
        if text.startswith(article):
            return text[len(article) :]
    return text


def event_targets(clip: VidSituClip, ev: str) -> dict[str, str | None]:
    """Per probed row, the event's class: the majority verb, and the most common phrase of each role
    over the clip's annotations (None where no annotation fills the role)."""
    targets: dict[str, str | None] = {"verb": training_verbs(clip)[EVENTS.index(ev)]}
    for name, role in PROBED_ROLES.items():
        phrases = [
            normalise_phrase(filler.text)
            for annotation in clip.annotations
            for filler in annotation.events[ev].roles
            if filler.role == role
        ]
        targets[name] = Counter(phrases).most_common(1)[0][0] if phrases else None
    return targets


def _labels(targets: list[dict[str, str | None]], row: str, vocabulary: dict[str, int]) -> torch.Tensor:
    """Class indices of one row for events' targets; IGNORE where unknown. (N,)"""
    return torch.tensor([vocabulary.get(t[row], IGNORE) if t[row] is not None else IGNORE for t in targets])


def probe_event_features(cache_root: Path, data: Path) -> dict[str, dict[str, float]]:
    """Linear probe accuracy and chance per row (verb, Arg0, location) of the cached VidSitu tokens.

    Classes are those of the training events; valid events of other classes are left out of both."""
    with EventCache(cache_root) as cache:
        train, valid = (load_event_features(cache, data, split) for split in ("train", "valid"))
    train_x, valid_x = (split.features.flatten(0, 1) for split in (train, valid))  # (C * 5, D)
    # clip-major, event-minor, as the flattened features
    train_t, valid_t = ([event_targets(clip, ev) for clip in split.clips for ev in EVENTS] for split in (train, valid))
    rows = {}
    for row in ("verb", *PROBED_ROLES):
        names = sorted({t[row] for t in train_t if t[row] is not None})
        vocabulary = {name: i for i, name in enumerate(names)}
        train_y, valid_y = _labels(train_t, row, vocabulary), _labels(valid_t, row, vocabulary)
        scored = valid_y[valid_y != IGNORE]  # (M,)
        rows[row] = {
            "accuracy": probe_accuracy(train_x, train_y, valid_x, valid_y),
            "chance": torch.bincount(scored).max().item() / len(scored),
            "classes": len(names),
            "events": len(scored),
        }
    return rows


def probe_table(rows: dict[str, dict[str, float]]) -> str:
    """The probe rows as a markdown table."""
    lines = ["| what | classes | valid events | linear probe Acc (%) | chance: majority (%) |", "|---|---|---|---|---|"]
    lines += [
        f"| {name} | {r['classes']} | {r['events']} | {100 * r['accuracy']:.1f} | {100 * r['chance']:.1f} |"
        for name, r in rows.items()
    ]
    return "\n".join(lines)
