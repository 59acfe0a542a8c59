"""Event embeddings out of the pipeline: raw cache features and TxE-contextualized ones, with video id and times.

Four formats, each written atomically (a temporary name, then a rename):

    npy      folder: raw.npy, contextual.npy (if any), meta.json (video_id, index, start_sec, end_sec lists)
    parquet  file: columns video_id, index, start_sec, end_sec, raw, contextual (if any); the vector
             columns are fixed_size_list<float32>[dim], so a table with no rows still knows its widths
    hdf5     file: datasets raw, contextual (if any), video_id (UTF-8), index, start_sec, end_sec
    faiss    folder: index.faiss (IndexFlatIP over the L2-normalised contextual embeddings, else raw),
             meta.parquet (video_id, index, start_sec, end_sec), info.json (which embedding, dim)

`read_embeddings` tells them apart by content (folder files, Parquet or HDF5 magic bytes), not by name.
`search` finds nearest events by cosine similarity in any of them.
"""

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import faiss
import h5py
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch import nn

from hiermovie.cache import EventCache
from hiermovie.contextualize.model import eval_mode, load_txe
from hiermovie.device import resolve_device
from hiermovie.errors import HiermovieError, InputFileError

FORMATS = ("npy", "parquet", "hdf5", "faiss")
PARQUET_MAGIC = b"PAR1"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
VECTORS = ("raw", "contextual")


@dataclass(frozen=True)
class EventEmbeddings:
    """One row per event (a cache token): where it is and its embeddings.

    Shape: index (E,) int64 token index within its video; start_sec, end_sec (E,) float64;
    raw (E, D) float32 (D = 0 when read from a faiss export of contextual embeddings); contextual (E, H) float32.
    """

    video_id: list[str]
    index: np.ndarray
    start_sec: np.ndarray
    end_sec: np.ndarray
    raw: np.ndarray
    contextual: np.ndarray | None = None

    def __post_init__(self):
        count = len(self.video_id)
        named = {"index": self.index, "start_sec": self.start_sec, "end_sec": self.end_sec, "raw": self.raw}
        named |= {"contextual": self.contextual} if self.contextual is not None else {}
        for name, array in named.items():
            if len(array) != count:
                raise ValueError(f"{name} has {len(array)} rows, video_id has {count}")
        for name in set(named) & set(VECTORS):
            if named[name].ndim != 2:
                raise ValueError(f"{name} must be (E, dim), got shape {named[name].shape}")

    def __len__(self) -> int:
        return len(self.video_id)

    @property
    def indexed(self) -> str:
        """The embedding that search and the faiss format use: "contextual" if present, else "raw"."""
        return "raw" if self.contextual is None else "contextual"


# ============ embeddings from a cache ============


@torch.inference_mode()
def contextual_embeddings(model: nn.Module, features: np.ndarray, seq_len: int, batch_size: int = 512) -> np.ndarray:
    """Each token's TxE output from the window of `seq_len` consecutive tokens centred on it, no masking.

    Windows are clamped at the video's ends: token t sits at position t - s of the window starting at
    s = clip(t - seq_len // 2, 0, L - seq_len). A video shorter than seq_len is one window of all its tokens.

    Shape: features (L, D) of one video; returns (L, H) float32.
    """
    if seq_len < 1:
        raise ValueError(f"seq_len must be >= 1, got {seq_len}")
    length = len(features)
    out = np.empty((length, model.hidden_dim), np.float32)  # (L, H)
    if length == 0:
        return out
    n = min(seq_len, length)
    starts = np.clip(np.arange(length) - n // 2, 0, length - n)  # (L,) window of each token
    device = next(model.parameters(), torch.empty(0)).device
    with eval_mode(model):
        for lo in range(0, length - n + 1, batch_size):
            first = np.arange(lo, min(lo + batch_size, length - n + 1))  # (b,) window starts in this batch
            x = torch.from_numpy(np.ascontiguousarray(features[first[:, None] + np.arange(n)], np.float32))  # (b, n, D)
            y = model(x.to(device), None).float().cpu().numpy()  # (b, n, H)
            tokens = np.flatnonzero((starts >= first[0]) & (starts <= first[-1]))  # tokens whose window is here
            out[tokens] = y[starts[tokens] - first[0], tokens - starts[tokens]]
    return out


def embed_cache(
    cache: EventCache, model: nn.Module | None = None, seq_len: int = 5, stride_sec: float | None = None
) -> EventEmbeddings:
    """Every token of every video (sorted ids): raw stored features as float32, contextual from `model` or None.

    stride_sec (a multiple k of the extraction stride, e.g. the TxE config's) feeds the model windows of
    every k-th token, as in pretraining: each of the k interleaved runs of a video is contextualized
    on its own. None: windows of consecutive tokens (k = 1).
    """
    step = 1 if stride_sec is None else cache.subsample_step(stride_sec)
    loaded = cache.load()
    raw = loaded.features.astype(np.float32)  # (E, D)
    index = np.arange(len(raw), dtype=np.int64) - np.repeat(loaded.offsets, loaded.lengths)  # (E,)
    video_id = [vid for vid, n in zip(loaded.video_ids, loaded.lengths.tolist(), strict=True) for _ in range(n)]
    contextual = None
    if model is not None:
        contextual = np.empty((len(raw), model.hidden_dim), np.float32)  # (E, H)
        for offset, n in zip(loaded.offsets.tolist(), loaded.lengths.tolist(), strict=True):
            video, out = raw[offset : offset + n], contextual[offset : offset + n]  # views of one video
            for phase in range(step):
                out[phase::step] = contextual_embeddings(model, video[phase::step], seq_len)
    return EventEmbeddings(video_id, index, loaded.start_sec, loaded.end_sec, raw, contextual)


def export_cache(cache: Path, txe: Path | None, fmt: str, out: Path, device: str = "auto") -> Path:
    """`hiermovie export`: embed every token of a cache (contextualized too if a TxE checkpoint is given) and write."""
    _check_format(fmt)
    model, seq_len, stride_sec = None, 5, None
    if txe is not None:
        config, model = load_txe(txe)
        model.to(resolve_device(device))
        seq_len, stride_sec = config.seq_len, config.stride_sec
    with EventCache(cache) as opened:
        if model is not None and opened.dim != model.input_dim:
            raise HiermovieError(f"{txe}: TxE takes {model.input_dim}-dim features, the cache holds {opened.dim}")
        embeddings = embed_cache(opened, model, seq_len, stride_sec)
    return write_embeddings(embeddings, fmt, out)


# ============ writing ============


def write_embeddings(embeddings: EventEmbeddings, fmt: str, out: Path) -> Path:
    """Write `embeddings` as `fmt` (one of FORMATS) to `out`, a file or folder, replacing an earlier export there."""
    _check_format(fmt)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}")
    _remove(tmp)
    try:
        {"npy": _write_npy, "parquet": _write_parquet, "hdf5": _write_hdf5, "faiss": _write_faiss}[fmt](embeddings, tmp)
        _publish(tmp, out)
    finally:
        _remove(tmp)
    return out


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise HiermovieError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")


def _write_npy(embeddings: EventEmbeddings, folder: Path) -> None:
    folder.mkdir()
    for name in VECTORS:
        if getattr(embeddings, name) is not None:
            np.save(folder / f"{name}.npy", getattr(embeddings, name))
    meta = {"video_id": list(embeddings.video_id)}
    meta |= {name: getattr(embeddings, name).tolist() for name in ("index", "start_sec", "end_sec")}
    (folder / "meta.json").write_text(json.dumps(meta))


def _write_parquet(embeddings: EventEmbeddings, path: Path) -> None:
    table = _meta_table(embeddings)
    for name in VECTORS:
        vectors = getattr(embeddings, name)
        if vectors is not None and vectors.shape[1] > 0:  # a faiss export's missing raw stays missing
            flat = pa.array(np.ascontiguousarray(vectors, np.float32).reshape(-1), pa.float32())  # (E * dim,)
            table = table.append_column(name, pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1]))
    pq.write_table(table, path)


def _write_hdf5(embeddings: EventEmbeddings, path: Path) -> None:
    with h5py.File(path, "w") as f:
        for name in VECTORS:
            if getattr(embeddings, name) is not None:
                f[name] = np.asarray(getattr(embeddings, name), np.float32)
        f.create_dataset("video_id", data=list(embeddings.video_id), dtype=h5py.string_dtype("utf-8"))
        f["index"] = np.asarray(embeddings.index, np.int64)
        f["start_sec"] = np.asarray(embeddings.start_sec, np.float64)
        f["end_sec"] = np.asarray(embeddings.end_sec, np.float64)


def _write_faiss(embeddings: EventEmbeddings, folder: Path) -> None:
    folder.mkdir()
    index = _flat_index(getattr(embeddings, embeddings.indexed))
    faiss.write_index(index, str(folder / "index.faiss"))
    pq.write_table(_meta_table(embeddings), folder / "meta.parquet")
    info = {"embedding": embeddings.indexed, "dim": index.d, "count": index.ntotal, "metric": "cosine"}
    (folder / "info.json").write_text(json.dumps(info, indent=1))


def _meta_table(embeddings: EventEmbeddings) -> pa.Table:
    return pa.table(
        {
            "video_id": pa.array(list(embeddings.video_id), pa.string()),
            "index": pa.array(np.asarray(embeddings.index, np.int64)),
            "start_sec": pa.array(np.asarray(embeddings.start_sec, np.float64)),
            "end_sec": pa.array(np.asarray(embeddings.end_sec, np.float64)),
        }
    )


def _normalized(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), float32. (E, dim) -> (E, dim)."""
    vectors = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)  # (E, 1)
    return np.ascontiguousarray(vectors / np.maximum(norms, np.float32(1e-12)), np.float32)


def _flat_index(vectors: np.ndarray) -> faiss.IndexFlatIP:
    """Exact inner-product index over the normalised rows: scores are cosine similarities."""
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(_normalized(vectors))
    return index


def _is_export_folder(path: Path) -> bool:
    return (path / "meta.json").is_file() or (path / "index.faiss").is_file()


def _publish(tmp: Path, out: Path) -> None:
    """Rename tmp to out; an earlier export folder at out is moved aside first and removed after."""
    if not out.is_dir():
        if out.exists() and tmp.is_dir():
            raise HiermovieError(f"{out}: exists and is a file; this format writes a folder")
        os.replace(tmp, out)
        return
    if not _is_export_folder(out):
        raise HiermovieError(f"{out}: exists and is a folder that is not an embeddings export; not replacing it")
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    _remove(old)
    os.replace(out, old)
    os.replace(tmp, out)
    _remove(old)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


# ============ reading ============


def read_embeddings(path: Path) -> EventEmbeddings:
    """Read an export of any format. For faiss, the indexed (normalised) vectors come back from the index."""
    path = Path(path)
    kind = _kind(path)
    try:
        return {"npy": _read_npy, "parquet": _read_parquet, "hdf5": _read_hdf5, "faiss": _read_faiss}[kind](path)
    except (OSError, KeyError, ValueError, RuntimeError) as error:  # RuntimeError: faiss's read errors
        raise InputFileError(path, f"unreadable {kind} embeddings export ({type(error).__name__}: {error})") from None


def _kind(path: Path) -> str:
    if path.is_dir():
        if (path / "index.faiss").is_file():
            return "faiss"
        if (path / "meta.json").is_file():
            return "npy"
        raise InputFileError(path, "not an embeddings export (a folder with neither index.faiss nor meta.json)")
    if not path.is_file():
        raise InputFileError(path, "no such file or folder")
    with open(path, "rb") as f:
        magic = f.read(len(HDF5_MAGIC))
    if magic.startswith(PARQUET_MAGIC):
        return "parquet"
    if magic == HDF5_MAGIC:
        return "hdf5"
    raise InputFileError(path, "not an embeddings export (neither a Parquet nor an HDF5 file)")


def _read_npy(folder: Path) -> EventEmbeddings:
    meta = json.loads((folder / "meta.json").read_text())
    contextual = np.load(folder / "contextual.npy") if (folder / "contextual.npy").is_file() else None
    return EventEmbeddings(
        meta["video_id"],
        np.asarray(meta["index"], np.int64),
        np.asarray(meta["start_sec"], np.float64),
        np.asarray(meta["end_sec"], np.float64),
        np.load(folder / "raw.npy"),
        contextual,
    )


def _read_parquet(path: Path) -> EventEmbeddings:
    table = pq.read_table(path)
    vectors = {name: _vector_column(table[name]) if name in table.column_names else None for name in VECTORS}
    if vectors["raw"] is None:
        vectors["raw"] = np.zeros((table.num_rows, 0), np.float32)
    return EventEmbeddings(*_meta_columns(table), vectors["raw"], vectors["contextual"])


def _vector_column(column: pa.ChunkedArray) -> np.ndarray:
    """A fixed_size_list<float32>[dim] column as (E, dim) float32."""
    if not pa.types.is_fixed_size_list(column.type):
        raise ValueError(f"vector column of type {column.type}, expected fixed_size_list<float32>")
    flat = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)  # (E * dim,)
    return flat.astype(np.float32, copy=False).reshape(len(column), column.type.list_size)


def _meta_columns(table: pa.Table) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    return (
        table["video_id"].to_pylist(),
        table["index"].to_numpy().astype(np.int64, copy=False),
        table["start_sec"].to_numpy().astype(np.float64, copy=False),
        table["end_sec"].to_numpy().astype(np.float64, copy=False),
    )


def _read_hdf5(path: Path) -> EventEmbeddings:
    with h5py.File(path, "r") as f:
        contextual = f["contextual"][:] if "contextual" in f else None
        video_id = list(f["video_id"].asstr()[:])
        return EventEmbeddings(video_id, f["index"][:], f["start_sec"][:], f["end_sec"][:], f["raw"][:], contextual)


def _read_faiss(folder: Path) -> EventEmbeddings:
    index, info, meta = _load_faiss(folder)
    vectors = index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, index.d), np.float32)
    if info["embedding"] == "contextual":
        return EventEmbeddings(*meta, np.zeros((index.ntotal, 0), np.float32), vectors)
    return EventEmbeddings(*meta, vectors)


def _load_faiss(folder: Path) -> tuple[faiss.Index, dict, tuple]:
    index = faiss.read_index(str(folder / "index.faiss"))
    info = json.loads((folder / "info.json").read_text())
    meta = _meta_columns(pq.read_table(folder / "meta.parquet"))
    if len(meta[0]) != index.ntotal:
        raise ValueError(f"index.faiss holds {index.ntotal} vectors, meta.parquet {len(meta[0])} rows")
    return index, info, meta


# ============ search ============


def search(path: Path, query: str | Path | np.ndarray, k: int = 5) -> list[dict]:
    """The k events of an export nearest to `query` by cosine similarity, best first.

    Args:
        path: an export of any format; searched over contextual embeddings if present, else raw.
        query: "VIDEO:INDEX" (an event of the export; it comes back first), a vector (dim,) or a .npy file of one.
        k: how many events.

    Returns:
        [{"rank", "video_id", "index", "start_sec", "end_sec", "score"}], rank from 1.
    """
    if k < 1:
        raise HiermovieError(f"k must be >= 1, got {k}")
    path = Path(path)
    if _kind(path) == "faiss":
        try:
            index, info, meta = _load_faiss(path)
        except (OSError, KeyError, ValueError, RuntimeError) as error:
            raise InputFileError(path, f"unreadable faiss export ({type(error).__name__}: {error})") from None
        which = info["embedding"]
    else:
        embeddings = read_embeddings(path)
        index, which = _flat_index(getattr(embeddings, embeddings.indexed)), embeddings.indexed
        meta = (embeddings.video_id, embeddings.index, embeddings.start_sec, embeddings.end_sec)
    video_id, event_index, start_sec, end_sec = meta
    self_row = None
    if isinstance(query, np.ndarray):
        vector = query
    elif isinstance(query, Path) or query.endswith(".npy"):
        vector = _load_vector(Path(query))
    else:
        self_row = _find_event(path, query, video_id, event_index)
        vector = index.reconstruct(self_row)  # (dim,) as indexed: normalised
    vector = np.asarray(vector, np.float32)
    if vector.ndim == 2 and len(vector) == 1:
        vector = vector[0]
    if vector.shape != (index.d,):
        raise HiermovieError(f"query vector has shape {vector.shape}; {path} holds {which} embeddings of dim {index.d}")
    if index.ntotal == 0:
        return []
    query_vector = _normalized(vector[None])  # (1, dim)
    scores, rows = index.search(query_vector, min(k, index.ntotal))  # (1, k), (1, k)
    hits = [(float(s), int(r)) for s, r in zip(scores[0], rows[0], strict=True) if r >= 0]
    if self_row is not None:  # the query event first, even against an exact duplicate
        own = [hit for hit in hits if hit[1] == self_row] or [(float(query_vector[0] @ vector), self_row)]
        hits = (own + [hit for hit in hits if hit[1] != self_row])[:k]
    return [
        {
            "rank": rank,
            "video_id": video_id[row],
            "index": int(event_index[row]),
            "start_sec": float(start_sec[row]),
            "end_sec": float(end_sec[row]),
            "score": score,
        }
        for rank, (score, row) in enumerate(hits, 1)
    ]


def _load_vector(path: Path) -> np.ndarray:
    if not path.is_file():
        raise InputFileError(path, "no such query vector file")
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise InputFileError(path, f"unreadable .npy query vector ({error})") from None


def _find_event(path: Path, query: str, video_id: list[str], event_index: np.ndarray) -> int:
    """Row of the event "VIDEO:INDEX" (the video id may itself contain colons)."""
    video, sep, number = query.rpartition(":")
    try:
        wanted = int(number)
    except ValueError:
        wanted = None
    if not sep or not video or wanted is None:
        raise HiermovieError(f"query {query!r} is not VIDEO:INDEX (e.g. 'movie_001:12') or a .npy file")
    rows = [row for row, vid in enumerate(video_id) if vid == video]
    if not rows:
        raise HiermovieError(f"{path}: no video {video!r} in the export (query {query!r})")
    for row in rows:
        if event_index[row] == wanted:
            return row
    known = event_index[rows]
    raise HiermovieError(
        f"{path}: no event {query!r}; video {video!r} has events {known.min()}..{known.max()} in the export"
    )
