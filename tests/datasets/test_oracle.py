"""The oracle cache: the benchmark's ground truth, in the cache's format, read back by stage 2."""

import json

import numpy as np
import pytest

from hiermovie.cache import EventCache
from hiermovie.datasets.lvu import load_lvu_task
from hiermovie.datasets.synth.oracle import (
    BLOCKS,
    ORACLE_DIM,
    ORACLE_PARTS,
    benchmark_stories,
    oracle_token,
    part_columns,
    write_oracle_cache,
)
from hiermovie.datasets.synth.world import CHARACTERS, VERB_IDS
from hiermovie.datasets.vidsitu import EVENTS, load_vidsitu
from hiermovie.errors import HiermovieError


@pytest.fixture(scope="module")
def oracle(tiny_benchmark, tmp_path_factory):
    out = tmp_path_factory.mktemp("oracle") / "cache"
    write_oracle_cache(tiny_benchmark, out, stride_sec=1.0)
    return out


def _block(token: np.ndarray, name: str) -> int:
    offset = 0
    for block, width in BLOCKS:
        if block == name:
            hot = np.flatnonzero(token[offset : offset + width])
            assert len(hot) == 1
            return int(hot[0])
        offset += width
    raise KeyError(name)


def test_every_video_of_the_benchmark_with_the_extraction_windows(oracle, tiny_benchmark):
    config = json.loads((tiny_benchmark / "synth.json").read_text())["config"]
    with EventCache(oracle) as cache:
        assert cache.dim == ORACLE_DIM
        clips = [c for split in ("train", "valid") for c in load_vidsitu(tiny_benchmark / "vidsitu", split).clips]
        for clip in clips:
            tokens = cache.tokens(clip.clip_id)
            assert np.allclose(tokens.start_sec, [0, 2, 4, 6, 8]) and np.allclose(tokens.end_sec, [2, 4, 6, 8, 10])
        movie = load_lvu_task(tiny_benchmark / "lvu" / "lvu_1.0", "scene", "train")[0]
        tokens = cache.tokens(movie.youtube_id)
        assert config["lvu_seconds"][0] <= len(tokens) <= config["lvu_seconds"][1]  # 1 s windows
        assert np.allclose(np.diff(tokens.start_sec), 1.0)


def test_tokens_carry_the_majority_verb_of_the_annotations(oracle, tiny_benchmark):
    """Each valid event has 10 verb votes, the true verb's most of the time: their majority is the oracle's verb."""
    agree = total = 0
    with EventCache(oracle) as cache:
        for clip in load_vidsitu(tiny_benchmark / "vidsitu", "valid").clips:
            tokens = cache.tokens(clip.clip_id).features  # (5, D)
            for e, ev in enumerate(EVENTS):
                votes = clip.verb_ids[ev]
                agree += VERB_IDS[_block(tokens[e], "verb")] == max(set(votes), key=votes.count)
                total += 1
    assert agree / total >= 0.9


def test_token_codes_the_event_at_the_frame(tiny_benchmark):
    _, stories = benchmark_stories(tiny_benchmark)
    story, is_clip = next(iter(stories.values()))
    event = story.events[1]
    token = oracle_token(story, event.start_frame)
    assert token.sum() == len(BLOCKS)  # one hot per block
    assert VERB_IDS[_block(token, "verb")] == event.verb_id
    assert CHARACTERS[_block(token, "agent")] == story.cast[event.agent]
    assert _block(token, "agent slot") == event.agent


@pytest.mark.parametrize("name", sorted(ORACLE_PARTS))
def test_a_part_cache_holds_the_full_tokens_blocks(oracle, tiny_benchmark, tmp_path, name):
    """A part cache is the full cache with the other blocks left out: its attrs name the blocks it keeps."""
    parts = ORACLE_PARTS[name]
    manifest = write_oracle_cache(tiny_benchmark, tmp_path / "part", parts=parts)
    assert [block for block, _ in manifest["attrs"]["oracle"]["blocks"]] == [b for b, _ in BLOCKS if b in parts]
    with EventCache(oracle) as full, EventCache(tmp_path / "part") as part:
        assert part.dim == sum(width for block, width in BLOCKS if block in parts) < ORACLE_DIM
        assert sorted(part.video_ids) == sorted(full.video_ids)
        for video_id in full.video_ids:
            expected = full.tokens(video_id).features[:, part_columns(parts)]
            assert np.array_equal(part.tokens(video_id).features, expected)
    assert write_oracle_cache(tiny_benchmark, tmp_path / "part", parts=parts) == manifest  # reused
    with pytest.raises(HiermovieError, match="other blocks"):
        write_oracle_cache(tiny_benchmark, tmp_path / "part")


def test_part_columns_are_the_named_blocks():
    columns = part_columns(("agent", "verb"))
    assert list(columns) == list(range(len(VERB_IDS) + len(CHARACTERS)))  # BLOCKS order, whatever was asked
    with pytest.raises(ValueError, match="oracle parts"):
        part_columns(("verbs",))


def test_not_a_benchmark_is_a_clear_error(tmp_path):
    with pytest.raises(HiermovieError, match="not an embedded benchmark"):
        write_oracle_cache(tmp_path, tmp_path / "cache")
    assert not (tmp_path / "cache").exists()
