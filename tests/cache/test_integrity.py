"""Partial writes never count as finished, the manifest totals its sidecars, verify() finds damage."""

import json
import os

import h5py
import pytest

from hiermovie.cache import EventCache, ShardWriter, finished_shards, sha256_file, shard_name, write_manifest


def test_failing_with_leaves_no_file(tmp_path, dim, attrs, make_video):
    with pytest.raises(RuntimeError), ShardWriter(tmp_path, 0, attrs, dim) as writer:
        writer.add(*make_video("a", 3))
        raise RuntimeError("decoder crashed")
    assert list(tmp_path.rglob("*")) in ([], [tmp_path / "shards"])  # no .h5, no .partial, no sidecar
    assert finished_shards(tmp_path) == {}


def test_failure_inside_close_leaves_no_file(tmp_path, monkeypatch, dim, attrs, make_video):
    writer = ShardWriter(tmp_path, 0, attrs, dim)
    writer.add(*make_video("a", 3))
    monkeypatch.setattr("hiermovie.cache.writer.sha256_file", lambda path: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        writer.close()
    assert list((tmp_path / "shards").iterdir()) == []


def test_close_writes_under_a_partial_name_then_renames(tmp_path, dim, attrs):
    writer = ShardWriter(tmp_path, 3, attrs, dim)
    assert writer.partial.name == f".shard-00003.h5.partial-{os.getpid()}"
    record = writer.close(failures=[{"video_id": "x", "error": "too short"}])
    files = sorted(p.name for p in (tmp_path / "shards").iterdir())
    assert files == ["shard-00003.h5", "shard-00003.json"]
    sidecar = json.loads((tmp_path / "shards" / "shard-00003.json").read_text())
    assert sidecar == {**record, "failures": [{"video_id": "x", "error": "too short"}]}
    assert record["sha256"] == sha256_file(tmp_path / "shards" / "shard-00003.h5")
    assert record["bytes"] == (tmp_path / "shards" / "shard-00003.h5").stat().st_size


def test_finished_shards_ignores_h5_without_sidecar(tmp_path, make_video, write_cache):
    write_cache(tmp_path, [[make_video("a", 3)], [make_video("b", 3)]])
    (tmp_path / "shards" / "shard-00001.json").unlink()  # crashed between the rename and the sidecar
    (tmp_path / "shards" / "shard-00002.json").write_text("{}")  # a sidecar whose .h5 is gone
    assert list(finished_shards(tmp_path)) == [0]
    assert finished_shards(tmp_path)[0]["video_ids"] == ["a"]


def test_write_manifest_totals(tmp_path, dim, attrs, make_video):
    with ShardWriter(tmp_path, 1, attrs, dim) as writer:  # shard 1 finishes first
        writer.add(*make_video("c", 5, 2))
        writer.close(failures=[{"video_id": "z", "error": "e"}])
    with ShardWriter(tmp_path, 0, attrs, dim) as writer:
        writer.add(*make_video("a", 3, 1))
        writer.add(*make_video("b", 4))
        writer.close(failures=[{"video_id": "y", "error": "e"}])
    manifest = write_manifest(tmp_path, attrs)
    assert manifest == json.loads((tmp_path / "manifest.json").read_text())
    assert [s["name"] for s in manifest["shards"]] == [shard_name(0), shard_name(1)]
    assert (manifest["videos"], manifest["tokens"], manifest["instances"]) == (3, 12, 3)
    assert manifest["bytes"] == sum(s["bytes"] for s in manifest["shards"])
    assert [f["video_id"] for f in manifest["failures"]] == ["y", "z"]
    assert manifest["schema_version"] == 1 and manifest["attrs"] == attrs and manifest["dim"] == dim
    assert all("failures" not in s for s in manifest["shards"])


def test_write_manifest_refuses_mixed_dtypes(tmp_path, dim, attrs):
    ShardWriter(tmp_path, 0, attrs, dim, dtype="float16").close()
    ShardWriter(tmp_path, 1, attrs, dim, dtype="float32").close()
    with pytest.raises(ValueError, match="disagree"):
        write_manifest(tmp_path, attrs)


def test_verify_clean_cache(tmp_path, videos, write_cache):
    write_cache(tmp_path, videos, compression="lzf")
    assert EventCache(tmp_path).verify() == []


def test_verify_finds_a_flipped_byte(tmp_path, videos, write_cache):
    write_cache(tmp_path, videos)
    path = tmp_path / "shards" / shard_name(1)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(data)
    problems = EventCache(tmp_path).verify()
    assert any(shard_name(1) in p and "sha256 differs" in p for p in problems)
    assert not any(shard_name(0) in p for p in problems)


def test_verify_finds_inconsistent_datasets(tmp_path, videos, attrs, write_cache):
    write_cache(tmp_path, videos)
    with h5py.File(tmp_path / "shards" / shard_name(0), "r+") as f:
        f["video_length"][0] += 1
        f.attrs["checkpoint_sha256"] = json.dumps("cd" * 32)
    problems = EventCache(tmp_path).verify()
    assert any("video_length sums to 20, not the 19 rows" in p for p in problems)
    assert any("attribute checkpoint_sha256 differs" in p for p in problems)
