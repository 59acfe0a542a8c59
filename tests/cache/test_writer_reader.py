"""Round trips through ShardWriter -> write_manifest -> EventCache, and the refusals on both sides."""

import json
import pickle

import h5py
import numpy as np
import pytest

from hiermovie.cache import EventCache, ShardWriter, VideoInstances, shard_name, write_manifest
from hiermovie.errors import HiermovieError, InputFileError


@pytest.mark.parametrize("dtype", ["float16", "float32"])
@pytest.mark.parametrize("compression", [None, "lzf"])
def test_round_trip(tmp_path, videos, dtype, compression, dim, attrs, write_cache):
    write_cache(tmp_path, videos, dtype=dtype, compression=compression)
    with EventCache(tmp_path) as cache:
        assert len(cache) == 5 and cache.video_ids == ["v0", "v1", "v2", "v3", "v4"]
        assert cache.dim == dim and cache.dtype == np.dtype(dtype) and cache.attrs == json.loads(json.dumps(attrs))
        assert [f["video_id"] for f in cache.failures] == ["broken0", "broken1"]
        for tokens, instances in videos[0] + videos[1]:
            got = cache.tokens(tokens.video_id)
            assert got.video_id == tokens.video_id and got.features.dtype == np.dtype(dtype)
            np.testing.assert_array_equal(got.features, tokens.features.astype(dtype))
            np.testing.assert_array_equal(got.start_sec, tokens.start_sec)
            np.testing.assert_array_equal(got.end_sec, tokens.end_sec)
            inst = cache.instances(tokens.video_id)
            np.testing.assert_array_equal(inst.features, instances.features.astype(dtype))
            for field in ("sec", "track_id", "shot_id", "box"):
                np.testing.assert_array_equal(getattr(inst, field), getattr(instances, field))
    with h5py.File(tmp_path / "shards" / shard_name(1), "r") as f:
        assert f["features"].compression == compression and f["features"].dtype == np.dtype(dtype)
        assert f["features"].chunks == (None if compression is None else (34, dim))  # 4 + 30 tokens
        assert f.attrs["schema_version"] == 1 and f.attrs["shard_index"] == 1
        assert json.loads(f.attrs["window"]) == attrs["window"]
        assert list(f["video_id"].asstr()[:]) == ["v2", "v4"]


def test_lzf_chunks_rows(tmp_path, dim, make_video, write_cache):
    write_cache(tmp_path, [[make_video("long", 300), make_video("short", 5)]], compression="lzf")
    with h5py.File(tmp_path / "shards" / shard_name(0), "r") as f:
        assert f["features"].chunks == (256, dim) and f["instance_features"].chunks is None  # no instances: 0 rows


def test_lookup_and_unknown_id(tmp_path, videos, write_cache):
    write_cache(tmp_path, videos)
    cache = EventCache(tmp_path)
    assert "v4" in cache and "nope" not in cache
    assert len(cache.tokens("v4")) == 30 and len(cache.tokens("v0")) == 0 and len(cache.instances("v1")) == 0
    with pytest.raises(HiermovieError, match="'nope'"):
        cache.tokens("nope")


def test_load_concatenates_in_sorted_id_order(tmp_path, videos, dim, write_cache):
    write_cache(tmp_path, videos, dtype="float32")
    cache = EventCache(tmp_path)
    loaded = cache.load()
    assert loaded.video_ids == cache.video_ids
    assert loaded.lengths.tolist() == [0, 7, 4, 12, 30] and loaded.offsets.tolist() == [0, 0, 7, 11, 23]
    assert loaded.features.shape == (53, dim) and loaded.features.dtype == np.float32
    for vid, offset, length in zip(loaded.video_ids, loaded.offsets, loaded.lengths, strict=True):
        rows = slice(offset, offset + length)
        np.testing.assert_array_equal(loaded.features[rows], cache.tokens(vid).features)
        np.testing.assert_array_equal(loaded.start_sec[rows], cache.tokens(vid).start_sec)
        np.testing.assert_array_equal(loaded.end_sec[rows], cache.tokens(vid).end_sec)


def test_pickled_cache_reopens_its_shards(tmp_path, videos, write_cache):
    write_cache(tmp_path, videos)
    cache = EventCache(tmp_path)
    before = cache.tokens("v3").features  # opens shard 0
    copy = pickle.loads(pickle.dumps(cache))
    np.testing.assert_array_equal(copy.tokens("v3").features, before)


def test_info(tmp_path, videos, dim, attrs, write_cache):
    write_cache(tmp_path, videos)
    info = EventCache(tmp_path).info()
    assert (info["videos"], info["tokens"], info["instances"], info["shards"], info["failures"]) == (5, 53, 16, 2, 2)
    assert info["dim"] == dim and info["dtype"] == "float16" and info["bytes"] > 0
    provenance = info["provenance"]
    assert provenance["backbone"] == {"method": "cvrl", "depth": 50, "stem_dim_out": 8}
    assert provenance["checkpoint_sha256"] == "ab" * 32 and provenance["window"] == attrs["window"]
    assert provenance["created"][0] <= provenance["created"][1]


def test_empty_shard_keeps_its_failures(tmp_path, dim, make_video, write_cache):
    write_cache(tmp_path, [[make_video("a", 3)], []])
    cache = EventCache(tmp_path)
    assert cache.video_ids == ["a"] and len(cache.failures) == 2 and cache.verify() == []
    assert cache.load().features.shape == (3, dim)


def test_missing_manifest_refused(tmp_path, videos, write_cache):
    write_cache(tmp_path, videos)
    (tmp_path / "manifest.json").unlink()
    with pytest.raises(HiermovieError, match="not a complete cache \\(no manifest.json\\): rerun the extraction"):
        EventCache(tmp_path)


def test_unknown_schema_version_refused(tmp_path, videos, write_cache):
    write_cache(tmp_path, videos)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({**manifest, "schema_version": 7}))
    with pytest.raises(HiermovieError, match="version 7; this hiermovie reads version 1"):
        EventCache(tmp_path)


def test_missing_shard_refused(tmp_path, videos, write_cache):
    write_cache(tmp_path, videos)
    (tmp_path / "shards" / shard_name(1)).unlink()
    with pytest.raises(InputFileError, match="shard-00001.h5: shard listed in manifest.json is missing"):
        EventCache(tmp_path)


def test_duplicate_ids_refused_everywhere(tmp_path, dim, attrs, make_video, write_cache):
    with ShardWriter(tmp_path, 0, attrs, dim) as writer:
        writer.add(*make_video("a", 3))
        with pytest.raises(ValueError, match="'a' added twice"):
            writer.add(*make_video("a", 4))
    with ShardWriter(tmp_path, 1, attrs, dim) as writer:
        writer.add(*make_video("a", 2))
    with pytest.raises(ValueError, match="'a' is in both shard-00000.h5 and shard-00001.h5"):
        write_manifest(tmp_path, attrs)
    # a manifest edited by hand is refused by the reader too
    write_cache(tmp_path / "c", [[make_video("a", 3)], [make_video("b", 2)]])
    manifest = json.loads((tmp_path / "c" / "manifest.json").read_text())
    manifest["shards"][1]["video_ids"] = ["a"]
    (tmp_path / "c" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(HiermovieError, match="'a' is in both shard-00000.h5 and shard-00001.h5"):
        EventCache(tmp_path / "c")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t, i: (t.__class__(t.video_id, t.features[:, :4], t.start_sec, t.end_sec), i), r"shape \(n, 6\)"),
        (
            lambda t, i: (t.__class__(t.video_id, t.features, t.start_sec[:2], t.end_sec), i),
            "start_sec must have shape",
        ),
        (lambda t, i: (t.__class__(t.video_id, t.features * 1e6, t.start_sec, t.end_sec), i), "not finite in float16"),
        (lambda t, i: (t.__class__(t.video_id, t.features + 1j, t.start_sec, t.end_sec), i), "cannot be stored"),
        (lambda t, i: (t.__class__(t.video_id, t.features, t.end_sec, t.start_sec), i), "end_sec >= start_sec"),
        (lambda t, i: (t.__class__("", t.features, t.start_sec, t.end_sec), i), "non-empty string"),
        (lambda t, i: (t, VideoInstances(i.features, i.sec + 0.5, i.track_id, i.shot_id, i.box)), "sec of dtype"),
        (lambda t, i: (t, VideoInstances(i.features, i.sec, i.track_id, i.shot_id, i.box[:, :3])), "box must have"),
        (
            lambda t, i: (t, VideoInstances(i.features, i.sec, i.track_id.astype(np.int64) + 2**40, i.shot_id, i.box)),
            "int32 range",
        ),
    ],
)
def test_writer_validates_videos(tmp_path, change, message, dim, attrs, make_video):
    with ShardWriter(tmp_path, 0, attrs, dim) as writer:
        with pytest.raises(ValueError, match=message):
            writer.add(*change(*make_video("a", 5, 3)))


def test_writer_validates_options(tmp_path, dim, attrs):
    with pytest.raises(ValueError, match="dtype"):
        ShardWriter(tmp_path, 0, attrs, dim, dtype="float64")
    with pytest.raises(ValueError, match="compression"):
        ShardWriter(tmp_path, 0, attrs, dim, compression="gzip")
    with pytest.raises(ValueError, match="reserved"):
        ShardWriter(tmp_path, 0, {**attrs, "created": "now"}, dim)
