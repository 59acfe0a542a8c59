"""Embedding export: clamped context windows, every format round-trips exactly, nearest-event search."""

import numpy as np
import pytest
import torch
from torch import nn

from hiermovie.cache import EventCache, ShardWriter, VideoTokens, write_manifest
from hiermovie.contextualize.export import (
    FORMATS,
    EventEmbeddings,
    _normalized,
    contextual_embeddings,
    embed_cache,
    export_cache,
    read_embeddings,
    search,
    write_embeddings,
)
from hiermovie.errors import HiermovieError, InputFileError

DIM, HIDDEN = 6, 4
ATTRS = {"window": {"stride_sec": 1.0, "window_sec": 2.0}}


class WindowProbe(nn.Module):
    """Features are (L, 1) token numbers; each output is [first token of its window, position, window length]."""

    hidden_dim = 3

    def __init__(self):
        super().__init__()
        self.calls = []  # (B, N) of each forward

    def forward(self, features, mask=None):
        assert mask is None  # contextual embeddings mask nothing
        self.calls.append(tuple(features.shape[:2]))
        batch, count = features.shape[:2]
        first = features[:, :1, 0].expand(batch, count)  # (B, N)
        position = torch.arange(count, dtype=torch.float32).expand(batch, count)  # (B, N)
        return torch.stack([first, position, torch.full((batch, count), float(count))], dim=-1)  # (B, N, 3)


def probe(length: int, seq_len: int, batch_size: int = 512) -> list[list[int]]:
    features = np.arange(length, dtype=np.float32)[:, None]  # (L, 1)
    return contextual_embeddings(WindowProbe(), features, seq_len, batch_size).astype(int).tolist()


# token t -> [first token of its window, t's position in it, window length], written out by hand
CLAMPED = {
    (7, 5): [[0, 0, 5], [0, 1, 5], [0, 2, 5], [1, 2, 5], [2, 2, 5], [2, 3, 5], [2, 4, 5]],
    (5, 5): [[0, 0, 5], [0, 1, 5], [0, 2, 5], [0, 3, 5], [0, 4, 5]],
    (3, 5): [[0, 0, 3], [0, 1, 3], [0, 2, 3]],  # shorter than seq_len: one window of all tokens
    (4, 2): [[0, 0, 2], [0, 1, 2], [1, 1, 2], [2, 1, 2]],  # even N: the token sits right of centre
    (3, 1): [[0, 0, 1], [1, 0, 1], [2, 0, 1]],
    (1, 5): [[0, 0, 1]],
    (0, 5): [],
}  # fmt: skip


@pytest.mark.parametrize("length, seq_len", list(CLAMPED))
def test_context_windows_clamped(length, seq_len):
    assert probe(length, seq_len) == CLAMPED[length, seq_len]
    assert probe(length, seq_len, batch_size=1) == CLAMPED[length, seq_len]  # one window per forward


def test_one_forward_per_distinct_window():
    model = WindowProbe()
    contextual_embeddings(model, np.zeros((20, 1), np.float32), 5, batch_size=8)
    assert model.calls == [(8, 5), (8, 5)]  # 16 distinct windows for 20 tokens, 8 at a time


def tiny_txe(input_dim: int = DIM):
    """A one-layer TxE of width 8 over `input_dim` features, and its config."""
    from hiermovie.contextualize.config import TXE_PROFILES
    from hiermovie.contextualize.model import create_txe

    torch.manual_seed(0)
    fields = {**TXE_PROFILES["tiny"].__dict__, "input_dim": input_dim, "hidden_dim": 8, "num_heads": 2}
    config = type(TXE_PROFILES["tiny"])(**fields | {"num_layers": 1, "ffn_dim": 16})
    return config, create_txe(config).eval()


def test_txe_matches_a_per_token_loop():
    _, txe = tiny_txe()
    features = np.random.default_rng(0).normal(size=(9, DIM)).astype(np.float32)  # (L, D)
    got = contextual_embeddings(txe, features, 5, batch_size=2)
    with torch.no_grad():
        for t, start in enumerate([0, 0, 0, 1, 2, 3, 4, 4, 4]):
            window = torch.from_numpy(features[None, start : start + 5])  # (1, 5, D)
            np.testing.assert_allclose(got[t], txe(window, None)[0, t - start].numpy(), rtol=1e-5, atol=1e-6)
    assert got.shape == (9, 8) and np.allclose(np.linalg.norm(got, axis=1), 1)


# ============ embed_cache ============


@pytest.fixture
def cache(tmp_path) -> EventCache:
    """1 s extraction, float16: "b" (9 tokens) and "a" (3) in one shard, "c" (0) in another."""
    rng = np.random.default_rng(0)
    for index, videos in enumerate([[("b", 9), ("a", 3)], [("c", 0)]]):
        with ShardWriter(tmp_path / "cache", index, ATTRS, DIM) as writer:
            for vid, count in videos:
                start = 0.5 + np.arange(count, dtype=np.float64)  # (L,)
                writer.add(VideoTokens(vid, rng.normal(size=(count, DIM)), start, start + 2.0))
    write_manifest(tmp_path / "cache", ATTRS)
    return EventCache(tmp_path / "cache")


def test_embed_cache_raw(cache):
    embeddings = embed_cache(cache)
    assert embeddings.video_id == ["a"] * 3 + ["b"] * 9 and embeddings.contextual is None
    assert embeddings.index.dtype == np.int64 and embeddings.index.tolist() == [0, 1, 2, *range(9)]
    assert embeddings.raw.dtype == np.float32
    for vid, rows in (("a", slice(0, 3)), ("b", slice(3, 12))):
        tokens = cache.tokens(vid)
        np.testing.assert_array_equal(embeddings.raw[rows], tokens.features.astype(np.float32))
        np.testing.assert_array_equal(embeddings.start_sec[rows], tokens.start_sec)
        np.testing.assert_array_equal(embeddings.end_sec[rows], tokens.end_sec)


def test_embed_cache_contextual_per_video_and_stride(cache):
    class Numbered(WindowProbe):  # the probe, reading each token's number from feature 0
        def forward(self, features, mask=None):
            return super().forward(features[..., :1], mask)

    number = np.concatenate([np.arange(3), np.arange(9)]).astype(np.float32)  # token number within its video
    loaded = cache.load()
    cache.load = lambda: type(loaded)(**{**loaded.__dict__, "features": np.repeat(number[:, None], DIM, axis=1)})
    consecutive = embed_cache(cache, Numbered(), seq_len=5).contextual.astype(int).tolist()
    assert consecutive[:3] == CLAMPED[3, 5]  # video "a" alone: its windows never reach into "b"
    assert consecutive[3:] == [[0, 0, 5], [0, 1, 5], [0, 2, 5], [1, 2, 5], [2, 2, 5], [3, 2, 5], [4, 2, 5],
                               [4, 3, 5], [4, 4, 5]]  # fmt: skip
    strided = embed_cache(cache, Numbered(), seq_len=5, stride_sec=2).contextual.astype(int).tolist()
    assert strided[:3] == [[0, 0, 2], [1, 0, 1], [0, 1, 2]]  # a: runs 0, 2 and 1
    # b: run 0, 2, 4, 6, 8 (one window of 5) and run 1, 3, 5, 7 (short: one window of 4)
    assert strided[3:] == [[0, 0, 5], [1, 0, 4], [0, 1, 5], [1, 1, 4], [0, 2, 5], [1, 2, 4], [0, 3, 5],
                           [1, 3, 4], [0, 4, 5]]  # fmt: skip


def test_export_cache_with_a_checkpoint(cache, tmp_path):
    from hiermovie.checkpoint import save_checkpoint

    config, txe = tiny_txe()  # stride_sec 2.0 over a 1 s cache: windows of every other token
    save_checkpoint(tmp_path / "txe.pt", kind="txe", config=config, step=0, txe=txe.state_dict())
    out = export_cache(tmp_path / "cache", tmp_path / "txe.pt", "parquet", tmp_path / "events.parquet", device="cpu")
    back = read_embeddings(out)
    want = embed_cache(cache, txe, config.seq_len, stride_sec=config.stride_sec)
    np.testing.assert_allclose(back.contextual, want.contextual, rtol=1e-5, atol=1e-6)
    assert export_cache(tmp_path / "cache", None, "npy", tmp_path / "raw").name == "raw"
    assert read_embeddings(tmp_path / "raw").contextual is None
    wide, wide_txe = tiny_txe(input_dim=DIM + 1)
    save_checkpoint(tmp_path / "wide.pt", kind="txe", config=wide, step=0, txe=wide_txe.state_dict())
    with pytest.raises(HiermovieError, match="TxE takes 7-dim features, the cache holds 6"):
        export_cache(tmp_path / "cache", tmp_path / "wide.pt", "npy", tmp_path / "wide")


# ============ formats ============


def make_embeddings(contextual: bool, count: int = 11) -> EventEmbeddings:
    """`count` events of three videos (odd ids included); one exact duplicate raw and contextual vector."""
    rng = np.random.default_rng(7)
    ids = ["mov:1", "Ünïcode", "z"]
    video_id = [ids[i * len(ids) // max(count, 1)] for i in range(count)]
    index = np.array([video_id[:i].count(vid) for i, vid in enumerate(video_id)], np.int64)
    start = 0.1 * np.arange(count) + 1 / 3  # (E,) not exact in binary: must still round-trip
    raw = rng.normal(size=(count, DIM)).astype(np.float32)  # (E, D)
    context = rng.normal(size=(count, HIDDEN)).astype(np.float32) if contextual else None  # (E, H)
    if count > 8:
        raw[8] = raw[2]
        if contextual:
            context[8] = context[2]
    return EventEmbeddings(video_id, index, start, start + 2.0, raw, context)


def assert_same(back: EventEmbeddings, want: EventEmbeddings, fmt: str):
    assert back.video_id == want.video_id and isinstance(back.video_id, list)
    for name in ("index", "start_sec", "end_sec"):
        np.testing.assert_array_equal(getattr(back, name), getattr(want, name))
        assert getattr(back, name).dtype == getattr(want, name).dtype
    if fmt == "faiss":  # only the indexed embedding, L2-normalised
        indexed = want.indexed
        np.testing.assert_array_equal(getattr(back, indexed), _normalized(getattr(want, indexed)))
        assert back.contextual is None if indexed == "raw" else back.raw.shape == (len(want), 0)
        return
    for name in ("raw", "contextual"):
        if getattr(want, name) is None:
            assert getattr(back, name) is None
        else:
            assert getattr(back, name).dtype == np.float32
            np.testing.assert_array_equal(getattr(back, name), getattr(want, name))


@pytest.mark.parametrize("contextual", [True, False])
@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip(tmp_path, fmt, contextual):
    embeddings = make_embeddings(contextual)
    out = write_embeddings(embeddings, fmt, tmp_path / "export")
    assert out == tmp_path / "export" and [p.name for p in tmp_path.iterdir()] == ["export"]  # no temporary left
    assert_same(read_embeddings(out), embeddings, fmt)
    out = write_embeddings(make_embeddings(contextual, count=4), fmt, out)  # replaces the earlier export
    assert_same(read_embeddings(out), make_embeddings(contextual, count=4), fmt)
    assert [p.name for p in tmp_path.iterdir()] == ["export"]


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_empty(tmp_path, fmt):
    embeddings = make_embeddings(True, count=0)
    assert_same(read_embeddings(write_embeddings(embeddings, fmt, tmp_path / "empty")), embeddings, fmt)
    assert search(tmp_path / "empty", np.zeros(HIDDEN, np.float32)) == []


@pytest.mark.parametrize("fmt", ["npy", "parquet", "hdf5"])
def test_faiss_read_back_rewrites(tmp_path, fmt):
    """What a faiss export reads back as (contextual only, raw of width 0) is writable in the other formats."""
    from_index = read_embeddings(write_embeddings(make_embeddings(True), "faiss", tmp_path / "index"))
    assert_same(read_embeddings(write_embeddings(from_index, fmt, tmp_path / "again")), from_index, fmt)


def test_write_and_read_refuse(tmp_path):
    embeddings = make_embeddings(False)
    with pytest.raises(HiermovieError, match="unknown export format 'csv'; choose one of: npy, parquet, hdf5, faiss"):
        write_embeddings(embeddings, "csv", tmp_path / "x")
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"meow")
    with pytest.raises(HiermovieError, match="not an embeddings export; not replacing it"):
        write_embeddings(embeddings, "npy", tmp_path / "photos")
    assert (tmp_path / "photos" / "cat.jpg").is_file()
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(HiermovieError, match="exists and is a file"):
        write_embeddings(embeddings, "faiss", tmp_path / "notes.txt")
    for path, problem in [("notes.txt", "neither a Parquet nor an HDF5"), ("photos", "neither index.faiss"),
                          ("missing.parquet", "no such file")]:  # fmt: skip
        with pytest.raises(InputFileError, match=problem):
            read_embeddings(tmp_path / path)
    (tmp_path / "cut.parquet").write_bytes(b"PAR1 and then nothing")
    with pytest.raises(InputFileError, match="unreadable parquet embeddings export"):
        read_embeddings(tmp_path / "cut.parquet")
    with pytest.raises(ValueError, match="start_sec has 2 rows, video_id has 11"):
        EventEmbeddings(embeddings.video_id, embeddings.index, np.zeros(2), embeddings.end_sec, embeddings.raw)


# ============ search ============


@pytest.fixture(params=FORMATS)
def export(request, tmp_path):
    return write_embeddings(make_embeddings(True), request.param, tmp_path / "export")


def test_search_event_comes_first(export):
    embeddings = make_embeddings(True)
    for query, twin in (("mov:1:2", ("z", 0)), ("z:0", ("mov:1", 2))):  # rows 2 and 8: exact duplicates
        rows = search(export, query, k=4)
        assert [row["rank"] for row in rows] == [1, 2, 3, 4]
        assert f"{rows[0]['video_id']}:{rows[0]['index']}" == query
        assert (rows[1]["video_id"], rows[1]["index"]) == twin
        assert rows[0]["score"] == pytest.approx(1, abs=1e-5) and rows[1]["score"] == pytest.approx(1, abs=1e-5)
        assert all(a["score"] >= b["score"] for a, b in zip(rows[1:], rows[2:], strict=False))
    row = search(export, "z:1", k=1)[0]
    where = embeddings.video_id.index("z") + 1
    assert row == {"rank": 1, "video_id": "z", "index": 1, "start_sec": embeddings.start_sec[where],
                   "end_sec": embeddings.end_sec[where], "score": pytest.approx(1, abs=1e-5)}  # fmt: skip
    assert len(search(export, "z:0", k=50)) == 11  # k beyond the export: every event once


def test_search_by_vector_and_npy(export, tmp_path):
    embeddings = make_embeddings(True)
    vector = 3 * embeddings.contextual[5]  # scale does not matter: cosine similarity
    by_vector = search(export, vector, k=3)
    assert (by_vector[0]["video_id"], by_vector[0]["index"]) == (embeddings.video_id[5], embeddings.index[5])
    assert by_vector[0]["score"] == pytest.approx(1, abs=1e-5)
    np.save(tmp_path / "query.npy", vector[None])  # (1, H) is accepted too
    assert search(export, tmp_path / "query.npy", k=3) == by_vector
    assert search(export, str(tmp_path / "query.npy"), k=3) == by_vector


def test_search_over_raw_without_contextual(tmp_path):
    embeddings = make_embeddings(False)
    out = write_embeddings(embeddings, "hdf5", tmp_path / "raw.h5")
    rows = search(out, embeddings.raw[6], k=2)
    assert (rows[0]["video_id"], rows[0]["index"]) == (embeddings.video_id[6], embeddings.index[6])
    with pytest.raises(HiermovieError, match=r"query vector has shape \(4,\); .* holds raw embeddings of dim 6"):
        search(out, np.zeros(HIDDEN, np.float32))


def test_search_refuses(export, tmp_path):
    for query, problem in [
        ("nocolon", "query 'nocolon' is not VIDEO:INDEX"),
        ("z:first", "query 'z:first' is not VIDEO:INDEX"),
        (":3", "query ':3' is not VIDEO:INDEX"),
        ("y:0", "no video 'y' in the export \\(query 'y:0'\\)"),
        ("z:9", "no event 'z:9'; video 'z' has events 0..2 in the export"),
        ("mov:1:-1", "no event 'mov:1:-1'; video 'mov:1' has events 0..3"),
    ]:
        with pytest.raises(HiermovieError, match=problem):
            search(export, query)
    with pytest.raises(HiermovieError, match=r"query vector has shape \(6,\)"):
        search(export, np.ones(DIM))
    with pytest.raises(InputFileError, match="no such query vector file"):
        search(export, tmp_path / "nope.npy")
    with pytest.raises(HiermovieError, match="k must be >= 1"):
        search(export, "z:0", k=0)
