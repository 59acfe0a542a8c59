"""The VidSitu side of stage 2: a split's clips with their 5 cached event features, and the labels
each task trains on (VidSitu `dat_loader.py`: train has one annotation per clip, which is used)."""

from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from hiermovie.cache import EventCache
from hiermovie.datasets.vidsitu import EVENTS, RELATIONS, VidSituClip, load_vidsitu, source_video, vidsitu_root
from hiermovie.errors import HiermovieError
from hiermovie.tasks.vidsitu_eval import RELATION_EVENTS

# VidSitu evaluates the pairs (1, 3), (2, 3), (3, 4), (3, 5), in this order
RELATION_PAIRS = ((0, 2), (1, 2), (2, 3), (2, 4))


@dataclass(frozen=True)
class EventFeatures:
    """One VidSitu split in `ann_idx` order and its cached event tokens.

    Shape: features (C, 5, D) float32, one row per clip, one token per event.
    """

    clips: tuple[VidSituClip, ...]
    features: torch.Tensor
    excluded: frozenset[int] = frozenset()  # ann_idx left out of scoring (`without_lvu_overlap`)

    def scored(self, entries: list[dict]) -> list[dict]:
        """The prediction entries of the clips that are scored (every clip but the excluded ones)."""
        return [entry for entry in entries if entry["ann_idx"] not in self.excluded]


def without_lvu_overlap(split: EventFeatures, lvu_videos: set[str]) -> EventFeatures:
    """`split` with its clips cut from LVU videos excluded from scoring: the paper removes the 241 VidSitu val
    videos that overlap LVU (sec. 4), so that LVU-pretrained encoders are not scored on videos they saw."""
    excluded = frozenset(clip.ann_idx for clip in split.clips if source_video(clip.clip_id) in lvu_videos)
    return replace(split, excluded=excluded)


def load_event_features(cache: EventCache, data: Path, split: str) -> EventFeatures:
    """Every clip of a VidSitu split with its 5 event features from the cache; an error names missing clips."""
    clips = load_vidsitu(vidsitu_root(data), split).clips
    missing = [clip.clip_id for clip in clips if clip.clip_id not in cache]
    if missing:
        raise HiermovieError(
            f"{cache.root}: {len(missing)} of {len(clips)} VidSitu {split} clips are not in the cache "
            f"(e.g. {missing[0]}); extract them first"
        )
    rows = []
    for clip in clips:
        tokens = cache.tokens(clip.clip_id).features  # (L, D)
        if len(tokens) != len(EVENTS):
            raise HiermovieError(
                f"{cache.root}: clip {clip.clip_id} has {len(tokens)} tokens, not VidSitu's {len(EVENTS)} events "
                "(was it extracted as a 10-second clip?)"
            )
        rows.append(np.asarray(tokens, dtype=np.float32))
    return EventFeatures(tuple(clips), torch.from_numpy(np.stack(rows)))  # (C, 5, D)


def training_verbs(clip: VidSituClip) -> list[str]:
    """Per event, the verb a clip trains on: the most common among its annotations (VidSitu `SFBase`)."""
    return [Counter(clip.verb_ids[ev]).most_common(1)[0][0] for ev in EVENTS]


def verb_vocabulary(clips: tuple[VidSituClip, ...]) -> list[str]:
    """The sorted verb ids of the training clips (VidSitu's vocabulary holds the train verbs only)."""
    return sorted({verb for clip in clips for verb in training_verbs(clip)})


def relation_labels(clip: VidSituClip) -> list[int]:
    """Indices into RELATIONS of the first annotation's relations of Ev1, Ev2, Ev4, Ev5 to Ev3."""
    events = clip.annotations[0].events
    missing = [ev for ev in RELATION_EVENTS if events[ev].relation is None]
    if missing:
        raise HiermovieError(f"VidSitu clip {clip.clip_id}: {missing[0]} has no event relation (EvRel)")
    return [RELATIONS.index(events[ev].relation) for ev in RELATION_EVENTS]


def event_roles(clip: VidSituClip, ev: str) -> tuple[str, list[tuple[str, str]]]:
    """(verb id, [(mapped role, phrase), ...] in Arg_List order) of the first annotation's event `ev`."""
    event = clip.annotations[0].events[ev]
    return event.verb_id, [(filler.role, filler.text) for filler in event.roles]
