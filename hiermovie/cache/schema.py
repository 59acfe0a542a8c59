"""The on-disk contract between stage 1 and stage 2: per-video records, shard and sidecar names.

A cache folder holds `shards/shard-NNNNN.h5` (HDF5, one `ShardWriter` each), a sidecar
`shards/shard-NNNNN.json` per finished shard, and `manifest.json`, written last, once every shard
is finished. All the datasets below are present in every shard, possibly with zero rows.
"""

import json
from dataclasses import dataclass

import h5py
import numpy as np

SCHEMA_VERSION = 1
KNOWN_VERSIONS = (1,)
FEATURE_DTYPES = ("float16", "float32")
COMPRESSIONS = (None, "lzf")  # never gzip: random reads are ~15x slower (shared/notes/platform.md 4)
RESERVED_ATTRS = ("schema_version", "created", "shard_index")

# dataset -> (dtype, ndim); "features" marks the feature dtype (float16 or float32) of the shard
SHARD_DATASETS: dict[str, tuple[str, int]] = {
    "features": ("features", 2),  # (N, D)
    "start_sec": ("float64", 1),  # (N,)
    "end_sec": ("float64", 1),  # (N,)
    "video_id": ("string", 1),  # (V,) variable-length UTF-8
    "video_offset": ("int64", 1),  # (V,) first token row of each video
    "video_length": ("int64", 1),  # (V,) its number of tokens
    "instance_features": ("features", 2),  # (M, D)
    "instance_sec": ("int32", 1),  # (M,) second of the video the instance was seen in
    "instance_track": ("int32", 1),  # (M,)
    "instance_shot": ("int32", 1),  # (M,)
    "instance_box": ("float32", 2),  # (M, 4) normalised x1, y1, x2, y2
    "instance_video_offset": ("int64", 1),  # (V,)
    "instance_video_length": ("int64", 1),  # (V,)
}


@dataclass(frozen=True)
class VideoTokens:
    """The event tokens of one video: one feature per event window.

    Shape: features (L, D); start_sec, end_sec (L,) float64, seconds from the video start.
    """

    video_id: str
    features: np.ndarray
    start_sec: np.ndarray
    end_sec: np.ndarray

    def __len__(self) -> int:
        return len(self.features)


@dataclass(frozen=True)
class VideoInstances:
    """The object instances of one video (LVU Object Transformer pathway).

    Shape: features (M, D); sec, track_id, shot_id (M,) int32; box (M, 4) float32 normalised x1, y1, x2, y2.
    """

    features: np.ndarray
    sec: np.ndarray
    track_id: np.ndarray
    shot_id: np.ndarray
    box: np.ndarray

    def __len__(self) -> int:
        return len(self.features)

    @classmethod
    def empty(cls, dim: int, dtype: str = "float32") -> "VideoInstances":
        """No instances, with features of width `dim`."""
        none = np.zeros(0, np.int32)
        return cls(np.zeros((0, dim), dtype), none, none, none, np.zeros((0, 4), np.float32))


def shard_name(index: int) -> str:
    """File name of shard `index`: shard_name(3) == "shard-00003.h5"."""
    if index < 0:
        raise ValueError(f"shard index must be >= 0, got {index}")
    return f"shard-{index:05d}.h5"


def sidecar_name(index: int) -> str:
    """File name of the sidecar JSON that marks shard `index` as finished."""
    return shard_name(index).removesuffix(".h5") + ".json"


def check_shard(f: h5py.File, record: dict, attrs: dict) -> list[str]:
    """What in an open shard disagrees with its manifest record and the cache attrs; [] if nothing."""
    problems = []
    for name, (kind, ndim) in SHARD_DATASETS.items():
        if name not in f:
            problems.append(f"dataset {name} is missing")
            continue
        want = record["dtype"] if kind == "features" else kind
        found = f[name].dtype
        ok = h5py.check_string_dtype(found) is not None if kind == "string" else found == np.dtype(want)
        if not ok or f[name].ndim != ndim:
            problems.append(f"{name} is {found} with {f[name].ndim} dims, expected {want} with {ndim}")
    if problems:
        return problems
    n, m, v, dim = record["tokens"], record["instances"], record["videos"], record["dim"]
    shapes = {"features": (n, dim), "start_sec": (n,), "end_sec": (n,), "instance_features": (m, dim)}
    shapes |= {name: (m,) for name in ("instance_sec", "instance_track", "instance_shot")} | {"instance_box": (m, 4)}
    shapes |= {name: (v,) for name in SHARD_DATASETS if name.startswith(("video_", "instance_video_"))}
    problems += [f"{k} has shape {f[k].shape}, expected {s}" for k, s in shapes.items() if f[k].shape != s]
    if problems:
        return problems
    if list(f["video_id"].asstr()[:]) != record["video_ids"]:
        problems.append("video ids differ from manifest.json")
    for prefix, rows in (("video", n), ("instance_video", m)):
        offset, length = f[f"{prefix}_offset"][:], f[f"{prefix}_length"][:]  # (V,), (V,)
        if (length < 0).any() or length.sum() != rows:
            problems.append(f"{prefix}_length sums to {length.sum()}, not the {rows} rows")
        elif not np.array_equal(offset, np.cumsum(length) - length):
            problems.append(f"{prefix}_offset is not contiguous")
    if not (f["end_sec"][:] >= f["start_sec"][:]).all():
        problems.append("some events end before they start")
    if f.attrs.get("schema_version") != SCHEMA_VERSION:
        problems.append(f"schema_version attribute is {f.attrs.get('schema_version')}, expected {SCHEMA_VERSION}")
    for key, value in attrs.items():
        if key not in f.attrs or json.loads(f.attrs[key]) != value:
            problems.append(f"attribute {key} differs from manifest.json")
    return problems
