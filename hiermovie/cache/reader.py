"""Stage-2 side of the cache: `EventCache` reads a sealed cache folder (its manifest and shards).

The video index comes from manifest.json, so opening a cache reads no HDF5. Shards are opened
read-only on first use, once each, per process: a cache handed to DataLoader workers (pickled or
forked) reopens its files in each worker.
"""

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import h5py
import numpy as np

from hiermovie.cache.schema import KNOWN_VERSIONS, VideoInstances, VideoTokens, check_shard
from hiermovie.cache.writer import sha256_file
from hiermovie.errors import HiermovieError, InputFileError

BACKBONE_SUMMARY = ("method", "depth", "stem_dim_out", "num_frames", "sampling_rate", "crop_size")


@dataclass(frozen=True)
class LoadedCache:
    """A whole cache in memory, videos in sorted id order; video v is rows offsets[v]:offsets[v] + lengths[v].

    Shape: offsets, lengths (V,) int64; features (N, D) in the stored dtype; start_sec, end_sec (N,) float64.
    """

    video_ids: list[str]
    offsets: np.ndarray
    lengths: np.ndarray
    features: np.ndarray
    start_sec: np.ndarray
    end_sec: np.ndarray


@dataclass(frozen=True)
class TokenWindow:
    """`length` subsampled tokens of one video; token_rows index that video's tokens.

    Shape: token_rows (length,) int64; features (length, D) float32; start_sec, end_sec (length,) float64.
    """

    video_id: str
    token_rows: np.ndarray
    features: np.ndarray
    start_sec: np.ndarray
    end_sec: np.ndarray


@dataclass(frozen=True)
class _OpenShard:
    file: h5py.File
    offset: np.ndarray  # (V,) first token row of each video
    length: np.ndarray  # (V,)
    instance_offset: np.ndarray  # (V,)
    instance_length: np.ndarray  # (V,)


class EventCache:
    """Read access to a cache folder written by `ShardWriter` and `write_manifest`; a context manager."""

    def __init__(self, root: Path):
        self.root = Path(root)
        path = self.root / "manifest.json"
        if not path.is_file():
            raise HiermovieError(f"{self.root}: not a complete cache (no manifest.json): rerun the extraction")
        try:
            manifest = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            raise InputFileError(path, f"unreadable manifest ({error})") from None
        version = manifest.get("schema_version")
        if version not in KNOWN_VERSIONS:
            known = ", ".join(map(str, KNOWN_VERSIONS))
            raise HiermovieError(f"{path}: cache schema version {version!r}; this hiermovie reads version {known}")
        self.manifest = manifest
        self.attrs: dict = manifest["attrs"]
        self.dim: int = manifest["dim"] or 0  # 0 (and float32) only for a cache with no shards
        self.dtype = np.dtype(manifest["dtype"] or "float32")
        self.failures: list[dict] = manifest["failures"]
        self._records: list[dict] = manifest["shards"]
        self._paths = [self.root / "shards" / record["name"] for record in self._records]
        for shard_path in self._paths:
            if not shard_path.is_file():
                raise InputFileError(shard_path, "shard listed in manifest.json is missing: rerun the extraction")
        self._where: dict[str, tuple[int, int]] = {}  # video id -> (shard, row in that shard)
        for shard, record in enumerate(self._records):
            for row, vid in enumerate(record["video_ids"]):
                if vid in self._where:
                    first = self._records[self._where[vid][0]]["name"]
                    raise HiermovieError(f"{path}: video {vid!r} is in both {first} and {record['name']}")
                self._where[vid] = (shard, row)
        self.video_ids: list[str] = sorted(self._where)
        self._files: dict[int, _OpenShard] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self.video_ids)

    def __contains__(self, video_id: object) -> bool:
        return video_id in self._where

    def _open(self, shard: int) -> _OpenShard:
        if self._pid != os.getpid():  # forked: the parent's HDF5 handles are not ours to use
            self._files, self._pid = {}, os.getpid()
        if shard not in self._files:
            path, record = self._paths[shard], self._records[shard]
            try:
                f = h5py.File(path, "r")
                ids = list(f["video_id"].asstr()[:])
                ranges = [f[name][:] for name in ("video_offset", "video_length")]
                ranges += [f[name][:] for name in ("instance_video_offset", "instance_video_length")]
            except (OSError, KeyError) as error:
                raise InputFileError(path, f"unreadable shard ({error}); see `hiermovie cache verify`") from None
            if ids != record["video_ids"]:
                f.close()
                raise InputFileError(path, "video ids differ from manifest.json; see `hiermovie cache verify`")
            self._files[shard] = _OpenShard(f, *ranges)
        return self._files[shard]

    def _locate(self, video_id: str) -> tuple[_OpenShard, int]:
        try:
            shard, row = self._where[video_id]
        except KeyError:
            raise HiermovieError(f"{self.root}: no video {video_id!r} in the cache") from None
        return self._open(shard), row

    def tokens(self, video_id: str) -> VideoTokens:
        """The event tokens of one video, features in the stored dtype."""
        shard, row = self._locate(video_id)
        rows = slice(shard.offset[row], shard.offset[row] + shard.length[row])
        f = shard.file
        return VideoTokens(video_id, f["features"][rows], f["start_sec"][rows], f["end_sec"][rows])

    def instances(self, video_id: str) -> VideoInstances:
        """The object instances of one video (possibly none)."""
        shard, row = self._locate(video_id)
        rows = slice(shard.instance_offset[row], shard.instance_offset[row] + shard.instance_length[row])
        f = shard.file
        names = ("instance_features", "instance_sec", "instance_track", "instance_shot", "instance_box")
        return VideoInstances(*(f[name][rows] for name in names))

    def load(self) -> LoadedCache:
        """Every video's tokens in memory, concatenated in `video_ids` order; reads each shard once."""
        position = {vid: v for v, vid in enumerate(self.video_ids)}
        lengths = np.zeros(len(self), np.int64)  # (V,)
        for shard, record in enumerate(self._records):
            lengths[[position[vid] for vid in record["video_ids"]]] = self._open(shard).length
        offsets = np.cumsum(lengths) - lengths  # (V,)
        features = np.empty((int(lengths.sum()), self.dim), self.dtype)  # (N, D)
        start_sec, end_sec = np.empty(len(features)), np.empty(len(features))  # (N,), (N,)
        for shard, record in enumerate(self._records):
            opened = self._open(shard)
            stored = [opened.file[name][:] for name in ("features", "start_sec", "end_sec")]  # (n, D), (n,), (n,)
            for row, vid in enumerate(record["video_ids"]):
                src = slice(opened.offset[row], opened.offset[row] + opened.length[row])
                dst = slice(offsets[position[vid]], offsets[position[vid]] + lengths[position[vid]])
                for out, array in zip((features, start_sec, end_sec), stored, strict=True):
                    out[dst] = array[src]
        return LoadedCache(list(self.video_ids), offsets, lengths, features, start_sec, end_sec)

    def subsample_step(self, stride_sec: float) -> int:
        """k such that stride_sec is k extraction strides; anything else is refused."""
        window = self.attrs.get("window") or {}
        if "stride_sec" not in window:
            raise HiermovieError(f"{self.root}: the cache does not record its extraction stride (window.stride_sec)")
        base, want = Fraction(str(window["stride_sec"])), Fraction(str(stride_sec))
        if want <= 0 or (want / base).denominator != 1:
            problem = f"is not a multiple of the extraction stride {float(base):g} s"
            raise HiermovieError(f"stride {float(want):g} s {problem}")
        return int(want / base)

    def windows(self, length: int, stride_sec: float) -> Iterator[TokenWindow]:
        """Every run of `length` consecutive tokens after keeping every k-th token (k = stride / extraction stride).

        Windows slide by one kept token; videos with fewer than `length` kept tokens yield nothing.
        """
        if length < 1:
            raise ValueError(f"window length must be >= 1, got {length}")
        step = self.subsample_step(stride_sec)
        for vid in self.video_ids:
            tokens = self.tokens(vid)
            rows = np.arange(0, len(tokens), step)  # (L',) kept token rows
            features = tokens.features[rows].astype(np.float32)  # (L', D)
            for i in range(len(rows) - length + 1):
                r = rows[i : i + length]  # (length,)
                yield TokenWindow(vid, r, features[i : i + length], tokens.start_sec[r], tokens.end_sec[r])

    def info(self) -> dict:
        """Sizes and provenance of the cache, ready to print as JSON."""
        backbone = self.attrs.get("backbone_config") or {}
        created = sorted(record["created"] for record in self._records)
        return {
            "root": str(self.root),
            **{key: self.manifest[key] for key in ("videos", "tokens", "instances")},
            "dim": self.dim,
            "dtype": str(self.dtype),
            "bytes": sum(path.stat().st_size for path in self._paths),
            "shards": len(self._records),
            "failures": len(self.failures),
            "provenance": {
                "backbone": {key: backbone[key] for key in BACKBONE_SUMMARY if key in backbone},
                "checkpoint_sha256": self.attrs.get("checkpoint_sha256"),
                "window": self.attrs.get("window"),
                "created": [created[0], created[-1]] if created else None,
            },
        }

    def verify(self) -> list[str]:
        """Re-hash every shard against the manifest and check its datasets; human-readable problems, [] if fine."""
        problems = []
        for path, record in zip(self._paths, self._records, strict=True):
            if not path.is_file():
                problems.append(f"{path}: missing")
                continue
            if path.stat().st_size != record["bytes"]:
                problems.append(f"{path}: {path.stat().st_size} bytes, manifest.json says {record['bytes']}")
            if sha256_file(path) != record["sha256"]:
                problems.append(f"{path}: sha256 differs from manifest.json (the file changed or is damaged)")
            try:
                with h5py.File(path, "r") as f:
                    problems += [f"{path}: {problem}" for problem in check_shard(f, record, self.attrs)]
            except (OSError, KeyError, ValueError, TypeError) as error:  # a damaged file fails in many ways
                problems.append(f"{path}: unreadable ({type(error).__name__}: {error})")
        for key in ("videos", "tokens", "instances"):
            total = sum(record[key] for record in self._records)
            if self.manifest[key] != total:
                problems.append(f"manifest.json: {key} is {self.manifest[key]}, its shards hold {total}")
        return problems

    def close(self) -> None:
        """Close the shards opened so far (they reopen on the next read)."""
        for shard in self._files.values():
            shard.file.close()
        self._files = {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_files": {}}  # HDF5 handles do not pickle; workers open their own

    def __enter__(self) -> "EventCache":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
