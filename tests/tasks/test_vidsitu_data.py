import shutil

import numpy as np
import pytest

from hiermovie.cache import EventCache, ShardWriter, VideoTokens, write_manifest
from hiermovie.datasets.vidsitu import RELATIONS, load_vidsitu, vidsitu_root
from hiermovie.errors import HiermovieError
from hiermovie.tasks.vidsitu_data import (
    load_event_features,
    relation_labels,
    training_verbs,
    verb_vocabulary,
)

from .conftest import ATTRS, DIM


def test_event_features_follow_the_split_order(verb_cache, tiny_benchmark):
    with EventCache(verb_cache) as cache:
        valid = load_event_features(cache, tiny_benchmark, "valid")
        assert [clip.ann_idx for clip in valid.clips] == list(range(len(valid.clips)))
        assert valid.features.shape == (len(valid.clips), 5, DIM)
        np.testing.assert_allclose(valid.features[2].numpy(), cache.tokens(valid.clips[2].clip_id).features)


def test_the_benchmark_folder_and_the_vidsitu_root_both_work(tiny_benchmark, tmp_path):
    assert vidsitu_root(tiny_benchmark) == vidsitu_root(tiny_benchmark / "vidsitu") == tiny_benchmark / "vidsitu"
    with pytest.raises(HiermovieError, match="no vidsitu_annotations"):
        vidsitu_root(tmp_path)


def test_a_cache_without_the_clips_or_with_other_windows_is_refused(tiny_benchmark, tmp_path):
    clips = load_vidsitu(tiny_benchmark / "vidsitu", "train").clips
    start = np.arange(4.0)
    with ShardWriter(tmp_path / "partial", 0, ATTRS, DIM) as writer:
        writer.add(VideoTokens(clips[0].clip_id, np.zeros((4, DIM)), start, start + 2))  # 4 tokens, not 5
    write_manifest(tmp_path / "partial", ATTRS)
    with EventCache(tmp_path / "partial") as cache:
        with pytest.raises(HiermovieError, match=f"{len(clips) - 1} of {len(clips)} VidSitu train clips are not"):
            load_event_features(cache, tiny_benchmark, "train")
    shutil.rmtree(tmp_path / "partial")
    with ShardWriter(tmp_path / "partial", 0, ATTRS, DIM) as writer:
        for clip in clips:
            writer.add(VideoTokens(clip.clip_id, np.zeros((4, DIM)), start, start + 2))
    write_manifest(tmp_path / "partial", ATTRS)
    with EventCache(tmp_path / "partial") as cache:
        with pytest.raises(HiermovieError, match="has 4 tokens, not VidSitu's 5 events"):
            load_event_features(cache, tiny_benchmark, "train")


def test_labels_come_from_the_annotations(tiny_benchmark):
    train = load_vidsitu(tiny_benchmark / "vidsitu", "train").clips
    clip = train[0]
    assert training_verbs(clip) == [
        clip.annotations[0].events[ev].verb_id for ev in ("Ev1", "Ev2", "Ev3", "Ev4", "Ev5")
    ]
    vocabulary = verb_vocabulary(train)
    assert vocabulary == sorted(vocabulary) and set(training_verbs(clip)) <= set(vocabulary)
    labels = relation_labels(clip)
    assert [RELATIONS[i] for i in labels] == [
        clip.annotations[0].events[ev].relation for ev in ("Ev1", "Ev2", "Ev4", "Ev5")
    ]
