"""Stage-1 side of the cache: `ShardWriter` writes one HDF5 shard, `write_manifest` seals the cache.

A shard is written under a temporary name, synced, hashed and renamed; then its sidecar JSON
(the shard record plus its failures) marks it finished. `manifest.json` is written last.
Every JSON file is written atomically (temporary file + os.replace).
"""

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import h5py
import numpy as np

from hiermovie.cache.schema import (
    COMPRESSIONS,
    FEATURE_DTYPES,
    RESERVED_ATTRS,
    SCHEMA_VERSION,
    VideoInstances,
    VideoTokens,
    shard_name,
    sidecar_name,
)
from hiermovie.errors import InputFileError


class ShardWriter:
    """Collects videos in memory and writes them as one shard on `close`; a context manager.

    Leaving the `with` block normally closes the shard (no failures) if `close` was not called;
    leaving it with an exception removes the temporary file and writes nothing.
    """

    def __init__(
        self, cache: Path, index: int, attrs: dict, dim: int, dtype: str = "float16", compression: str | None = None
    ):
        if dtype not in FEATURE_DTYPES:
            raise ValueError(f"feature dtype must be one of {FEATURE_DTYPES}, got {dtype!r}")
        if compression not in COMPRESSIONS:
            raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
        if dim < 1:
            raise ValueError(f"feature dim must be >= 1, got {dim}")
        if reserved := set(attrs) & set(RESERVED_ATTRS):
            raise ValueError(f"attrs may not use the reserved keys {sorted(reserved)}")
        self.folder = Path(cache) / "shards"
        self.index, self.attrs, self.dim, self.dtype, self.compression = index, attrs, dim, dtype, compression
        self.path = self.folder / shard_name(index)
        self.partial = self.folder / f".{self.path.name}.partial-{os.getpid()}"
        self._tokens: list[VideoTokens] = []
        self._instances: list[VideoInstances] = []
        self._ids: set[str] = set()
        self._closed = False
        json.dumps(attrs)  # fail now, not after the shard is written, if attrs are not JSON-ready

    def add(self, tokens: VideoTokens, instances: VideoInstances | None = None) -> None:
        """Queue one video; checks shapes, the feature width, finiteness in the shard dtype and unique ids."""
        if self._closed:
            raise ValueError(f"{self.path.name} is already closed")
        vid = tokens.video_id
        if not isinstance(vid, str) or not vid:
            raise ValueError(f"video_id must be a non-empty string, got {vid!r}")
        if vid in self._ids:
            raise ValueError(f"video {vid!r} added twice to {self.path.name}")
        features = self._features(vid, "features", tokens.features)  # (L, D)
        length = len(features)
        start = _array(vid, "start_sec", tokens.start_sec, (length,), "float64")
        end = _array(vid, "end_sec", tokens.end_sec, (length,), "float64")
        if not (np.isfinite(start).all() and np.isfinite(end).all() and (end >= start).all()):
            raise ValueError(f"{vid}: event windows must be finite with end_sec >= start_sec")
        instances = instances if instances is not None else VideoInstances.empty(self.dim, self.dtype)
        inst = self._features(vid, "instance features", instances.features)  # (M, D)
        m = len(inst)
        sec = _array(vid, "sec", instances.sec, (m,), "int32")
        track = _array(vid, "track_id", instances.track_id, (m,), "int32")
        shot = _array(vid, "shot_id", instances.shot_id, (m,), "int32")
        box = _array(vid, "box", instances.box, (m, 4), "float32")  # (M, 4)
        self._ids.add(vid)
        self._tokens.append(VideoTokens(vid, features, start, end))
        self._instances.append(VideoInstances(inst, sec, track, shot, box))

    def _features(self, vid: str, what: str, array: np.ndarray) -> np.ndarray:
        # cast to the shard dtype now: the copy is what gets written, and overflow shows up here
        array = np.asarray(array)
        if array.ndim != 2 or array.shape[1] != self.dim:
            raise ValueError(f"{vid}: {what} must have shape (n, {self.dim}), got {array.shape}")
        if not np.can_cast(array.dtype, self.dtype, casting="same_kind"):
            raise ValueError(f"{vid}: {what} of dtype {array.dtype} cannot be stored as {self.dtype}")
        with np.errstate(over="ignore"):  # overflow becomes inf, refused just below
            stored = array.astype(self.dtype)
        if not np.isfinite(stored).all():
            raise ValueError(f"{vid}: {what} has values that are not finite in {self.dtype}")
        return stored

    def close(self, failures: list[dict] = ()) -> dict:
        """Write the shard (temporary name, fsync, sha256, rename), then its sidecar; returns the record."""
        if self._closed:
            raise ValueError(f"{self.path.name} is already closed")
        self._closed = True
        self.folder.mkdir(parents=True, exist_ok=True)
        created = datetime.now(UTC).isoformat(timespec="seconds")
        try:
            try:
                self._write_hdf5(self.partial, created)
            except RuntimeError as error:  # h5py reports a failed write (e.g. a full disk) as RuntimeError
                raise OSError(
                    getattr(error, "errno", None), f"cannot write the shard: {error}", str(self.path)
                ) from None
            with open(self.partial, "rb") as f:
                os.fsync(f.fileno())
            digest = sha256_file(self.partial)
            sidecar = self.folder / sidecar_name(self.index)
            sidecar.unlink(missing_ok=True)  # an older finished shard of this index stops counting first
            os.replace(self.partial, self.path)
        finally:
            self.partial.unlink(missing_ok=True)
        record = {
            "name": self.path.name,
            "sha256": digest,
            "videos": len(self._tokens),
            "tokens": sum(len(t) for t in self._tokens),
            "instances": sum(len(i) for i in self._instances),
            "bytes": self.path.stat().st_size,
            "dim": self.dim,
            "dtype": self.dtype,
            "created": created,
            "video_ids": [t.video_id for t in self._tokens],
        }
        _write_json(sidecar, {**record, "failures": list(failures)})
        self._tokens, self._instances = [], []
        return record

    def _write_hdf5(self, path: Path, created: str) -> None:
        tokens, instances = self._tokens, self._instances
        cat = np.concatenate
        with h5py.File(path, "w") as f:
            f.attrs["schema_version"] = SCHEMA_VERSION
            f.attrs["created"] = created
            f.attrs["shard_index"] = self.index
            for key, value in self.attrs.items():
                f.attrs[key] = json.dumps(value)
            self._put_features(f, "features", cat([t.features for t in tokens] or [np.zeros((0, self.dim))]))
            f["start_sec"] = cat([t.start_sec for t in tokens] or [np.zeros(0)]).astype(np.float64)  # (N,)
            f["end_sec"] = cat([t.end_sec for t in tokens] or [np.zeros(0)]).astype(np.float64)  # (N,)
            f.create_dataset("video_id", data=[t.video_id for t in tokens], dtype=h5py.string_dtype())  # (V,)
            _put_ranges(f, "video", [len(t) for t in tokens])
            self._put_features(
                f, "instance_features", cat([i.features for i in instances] or [np.zeros((0, self.dim))])
            )
            for name, field in (("instance_sec", "sec"), ("instance_track", "track_id"), ("instance_shot", "shot_id")):
                f[name] = cat([getattr(i, field) for i in instances] or [np.zeros(0)]).astype(np.int32)  # (M,)
            f["instance_box"] = cat([i.box for i in instances] or [np.zeros((0, 4))]).astype(np.float32)  # (M, 4)
            _put_ranges(f, "instance_video", [len(i) for i in instances])

    def _put_features(self, f: h5py.File, name: str, features: np.ndarray) -> None:
        features = features.astype(self.dtype)  # (N, D)
        if self.compression and len(features):  # chunks (and so compression) need at least one row
            f.create_dataset(name, data=features, chunks=(min(len(features), 256), self.dim), compression="lzf")
        else:
            f.create_dataset(name, data=features)  # contiguous

    def __enter__(self) -> "ShardWriter":
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if kind is not None:
            self._closed = True
            self.partial.unlink(missing_ok=True)
        elif not self._closed:
            self.close()


def _array(vid: str, name: str, array: np.ndarray, shape: tuple[int, ...], dtype: str) -> np.ndarray:
    # a checked copy of `array` in `dtype`: right shape, and a value-preserving cast for integers
    array = np.asarray(array)
    if array.shape != shape:
        raise ValueError(f"{vid}: {name} must have shape {shape}, got {array.shape}")
    if not np.can_cast(array.dtype, dtype, casting="same_kind"):
        raise ValueError(f"{vid}: {name} of dtype {array.dtype} cannot be stored as {dtype}")
    stored = array.astype(dtype)
    if stored.dtype.kind == "i" and not np.array_equal(stored, array):
        raise ValueError(f"{vid}: {name} has values out of the {dtype} range")
    return stored


def _put_ranges(f: h5py.File, prefix: str, lengths: list[int]) -> None:
    lengths = np.asarray(lengths, np.int64)  # (V,)
    f[f"{prefix}_offset"] = np.cumsum(lengths) - lengths  # (V,)
    f[f"{prefix}_length"] = lengths


def _write_json(path: Path, obj: dict) -> None:
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def finished_shards(cache: Path) -> dict[int, dict]:
    """Shard index -> sidecar, for the shards whose .h5 and sidecar both exist (extraction resumes after them)."""
    found = {}
    for sidecar in sorted((Path(cache) / "shards").glob("shard-*.json")):
        index = int(sidecar.stem.removeprefix("shard-"))
        if (sidecar.parent / shard_name(index)).is_file():
            try:
                found[index] = json.loads(sidecar.read_text())
            except (OSError, ValueError) as error:
                raise InputFileError(sidecar, f"unreadable shard sidecar ({error})") from None
    return found


def write_manifest(cache: Path, attrs: dict, sidecars: list[dict] | None = None) -> dict:
    """Seal the cache: the union of the sidecars (default: every finished shard) as manifest.json."""
    sidecars = list(finished_shards(cache).values()) if sidecars is None else sidecars
    records = sorted(({k: v for k, v in s.items() if k != "failures"} for s in sidecars), key=lambda r: r["name"])
    seen: dict[str, str] = {}
    for record in records:
        for vid in record["video_ids"]:
            if vid in seen:
                raise ValueError(f"video {vid!r} is in both {seen[vid]} and {record['name']}")
            seen[vid] = record["name"]
    kinds = {(r["dim"], r["dtype"]) for r in records}
    if len(kinds) > 1:
        raise ValueError(f"shards disagree on feature (dim, dtype): {sorted(kinds)}")
    dim, dtype = kinds.pop() if kinds else (None, None)
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "attrs": attrs,
        "dim": dim,
        "dtype": dtype,
        "shards": records,
        "failures": [failure for s in sorted(sidecars, key=lambda s: s["name"]) for failure in s.get("failures", [])],
        **{key: sum(r[key] for r in records) for key in ("videos", "tokens", "instances", "bytes")},
    }
    _write_json(Path(cache) / "manifest.json", manifest)
    return manifest
