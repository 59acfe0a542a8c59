"""Masked-event retrieval: ranks against a brute-force NumPy ranking, stand-in models at both ends, windows."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from hiermovie.cache import EventCache, ShardWriter, VideoTokens, write_manifest
from hiermovie.contextualize import retrieval
from hiermovie.contextualize.retrieval import masked_event_retrieval, retrieval_ranks, retrieval_windows
from hiermovie.errors import HiermovieError

DIM, HIDDEN = 8, 6
ATTRS = {"window": {"stride_sec": 1.0, "window_sec": 2.0}}


class Oracle(nn.Module):
    """Ignores the mask: each output is its own token's projection (plus `noise` x a second projection)."""

    def __init__(self, noise: float = 0.0, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.proj, self.other = nn.Linear(DIM, HIDDEN), nn.Linear(DIM, HIDDEN)
        self.noise, self.hidden_dim = noise, HIDDEN
        self.masks, self.modes = [], []  # per forward call: the mask, and whether in training mode

    def project(self, features):
        return self.proj(features)  # (B, N, H)

    def forward(self, features, mask=None):
        self.masks.append(mask)
        self.modes.append(self.training)
        return F.normalize(self.proj(features) + self.noise * self.other(features), dim=-1)  # (B, N, H)


class Blind(Oracle):
    """Honours the mask: every output is the projected mean of the unmasked tokens; knows nothing of the hidden one."""

    def forward(self, features, mask=None):
        self.masks.append(mask)
        keep = (~mask).unsqueeze(-1).float()  # (B, N, 1)
        context = (features * keep).sum(1, keepdim=True) / keep.sum(1, keepdim=True)  # (B, 1, D)
        return F.normalize(self.proj(context), dim=-1).expand(-1, features.shape[1], -1)  # (B, N, H)


def numpy_ranks(queries: np.ndarray, gallery: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """1 + how many gallery rows score strictly above the target, from the full score matrix."""
    scores = queries.astype(np.float64) @ gallery.astype(np.float64).T  # (Q, W)
    true = scores[np.arange(len(queries)), targets]  # (Q,)
    return 1 + (scores > true[:, None]).sum(1)


def random_windows(count: int, length: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, length, DIM)).astype(np.float32)  # (W, N, D)


def test_oracle_finds_every_token_first():
    metrics = masked_event_retrieval(Oracle(), random_windows(64))
    assert metrics == {"r1": 1.0, "r5": 1.0, "median_rank": 1.0, "mean_rank": 1.0, "queries": 64.0, "chance_r1": 1 / 64}


def test_blind_model_is_at_chance():
    count = 500
    metrics = masked_event_retrieval(Blind(), random_windows(count, seed=1), batch_size=128)
    assert metrics["queries"] == count and metrics["chance_r1"] == 1 / count
    assert metrics["r1"] <= 5 / count and metrics["r5"] <= 25 / count
    assert 0.35 * count < metrics["median_rank"] < 0.65 * count
    assert 0.4 * count < metrics["mean_rank"] < 0.6 * count


@pytest.mark.parametrize("block", [1 << 24, 7, 1])
def test_ranks_match_brute_force_with_ties(monkeypatch, block):
    monkeypatch.setattr(retrieval, "SCORE_BLOCK", block)  # 7: blocks of one query row; 1: the same
    rng = np.random.default_rng(2)
    gallery = rng.integers(-2, 3, size=(40, 5)).astype(np.float32)  # small integers: every score exact, ties real
    gallery[10:15] = gallery[3]  # exact duplicates of row 3
    queries = rng.integers(-2, 3, size=(25, 5)).astype(np.float32)
    targets = rng.integers(0, 40, size=25)
    targets[:4] = [3, 10, 14, 0]
    got = retrieval_ranks(torch.from_numpy(queries), torch.from_numpy(gallery), torch.from_numpy(targets))
    np.testing.assert_array_equal(got.numpy(), numpy_ranks(queries, gallery, targets))
    square = retrieval_ranks(torch.from_numpy(queries), torch.from_numpy(gallery[:25]))  # default: query i -> row i
    np.testing.assert_array_equal(square.numpy(), numpy_ranks(queries, gallery[:25], np.arange(25)))


def test_metrics_match_numpy_ranking():
    windows, model = random_windows(200, seed=3), Oracle(noise=1.5, seed=4)
    metrics = masked_event_retrieval(model, windows, batch_size=64)
    with torch.no_grad():
        x = torch.from_numpy(windows)
        queries = F.normalize(model.proj(x[:, 2]) + 1.5 * model.other(x[:, 2]), dim=-1).numpy()  # (W, H)
        gallery = F.normalize(model.proj(x[:, 2]), dim=-1).numpy()  # (W, H)
    ranks = numpy_ranks(queries, gallery, np.arange(200))
    assert 0.05 < metrics["r1"] < 0.95  # the noise spreads the ranks: a real test of the counting
    want = {"r1": (ranks == 1).mean(), "r5": (ranks <= 5).mean(), "median_rank": np.median(ranks)}
    want |= {"mean_rank": ranks.mean(), "queries": 200.0, "chance_r1": 1 / 200}
    assert metrics == pytest.approx(want)


def test_one_masked_token_at_the_position():
    model = Oracle()
    masked_event_retrieval(model, random_windows(10, length=7), batch_size=4)
    assert len(model.masks) == 3  # 4 + 4 + 2 windows
    for mask in model.masks:
        assert mask.dtype == torch.bool and mask.shape[1] == 7
        assert mask.sum(1).tolist() == [1] * len(mask) and mask[:, 3].all()  # centre of 7
    model.masks.clear()
    masked_event_retrieval(model.eval(), random_windows(3, length=7), position=0)
    assert model.masks[0][:, 0].all() and model.masks[0].sum() == 3


def test_eval_mode_inside_training_flag_restored():
    model = Oracle().train()
    masked_event_retrieval(model, random_windows(4))
    assert model.modes == [False] and model.training
    masked_event_retrieval(model.eval(), random_windows(4))
    assert not model.training


def test_target_projection_replaces_project():
    model = Oracle()
    flipped = masked_event_retrieval(model, random_windows(30), target_projection=lambda x: -model.proj(x))
    assert flipped["r1"] == 0.0 and flipped["median_rank"] == 30  # every true target is now the worst match
    same = masked_event_retrieval(model, random_windows(30), target_projection=lambda x: 3 * model.proj(x))
    assert same["r1"] == 1.0  # the targets are L2-normalised whatever the projection gives


def test_bad_input():
    with pytest.raises(HiermovieError, match="at least one window"):
        masked_event_retrieval(Oracle(), np.zeros((0, 5, DIM), np.float32))
    with pytest.raises(ValueError, match=r"position must be in \[0, 5\), got 5"):
        masked_event_retrieval(Oracle(), random_windows(3), position=5)
    with pytest.raises(ValueError, match=r"windows must be \(W, N, D\)"):
        masked_event_retrieval(Oracle(), np.zeros((5, DIM), np.float32))


def test_with_a_real_txe():
    from hiermovie.contextualize.config import TXE_PROFILES
    from hiermovie.contextualize.model import create_txe

    torch.manual_seed(0)
    config = TXE_PROFILES["tiny"]
    txe = create_txe(type(config)(**{**config.__dict__, "input_dim": DIM, "hidden_dim": 16, "num_layers": 1}))
    windows = random_windows(40, seed=5)
    metrics = masked_event_retrieval(txe.train(), windows)
    assert txe.training  # dropout was off for the metric, and training mode is back
    with torch.no_grad():
        txe.eval()
        x, mask = torch.from_numpy(windows), torch.zeros(40, 5, dtype=torch.bool)
        mask[:, 2] = True
        queries = txe(x, mask)[:, 2].numpy()  # (W, H)
        gallery = F.normalize(txe.project(x[:, 2:3])[:, 0], dim=-1).numpy()  # (W, H)
    ranks = numpy_ranks(queries, gallery, np.arange(40))
    assert metrics["mean_rank"] == pytest.approx(ranks.mean()) and metrics["r1"] == pytest.approx((ranks == 1).mean())


# ============ retrieval_windows ============


@pytest.fixture
def cache(tmp_path) -> EventCache:
    """1 s extraction: videos "long" (12 tokens) and "short" (4) in one shard, "mid" (9) in another."""
    rng = np.random.default_rng(0)
    for index, videos in enumerate([[("long", 12), ("short", 4)], [("mid", 9)]]):
        with ShardWriter(tmp_path, index, ATTRS, DIM) as writer:
            for vid, count in videos:
                start = np.arange(count, dtype=np.float64)  # (L,)
                writer.add(VideoTokens(vid, rng.normal(size=(count, DIM)), start, start + 2.0))
    write_manifest(tmp_path, ATTRS)
    return EventCache(tmp_path)


@pytest.mark.parametrize("ids, length, stride, count", [
    (["long", "short", "mid"], 5, 1, 8 + 0 + 5),
    (["mid", "long"], 5, 1, 5 + 8),
    (["long", "mid"], 5, 2, 2 + 1),  # long keeps 0, 2, .., 10; mid keeps 0, 2, .., 8
    (["long", "mid"], 3, 3, 2 + 1),
    (["short"], 4, 1, 1),
    (["short", "mid"], 5, 3, 0),
])  # fmt: skip
def test_retrieval_windows_match_cache_windows(cache, ids, length, stride, count):
    windows = retrieval_windows(cache, ids, length, stride)
    assert windows.dtype == np.float32 and windows.shape == (count, length, DIM)
    want = [w.features for vid in ids for w in cache.windows(length, stride) if w.video_id == vid]
    np.testing.assert_array_equal(windows, np.stack(want) if want else np.zeros((0, length, DIM), np.float32))


def test_retrieval_windows_refuse(cache):
    with pytest.raises(HiermovieError, match="no video 'nope'"):
        retrieval_windows(cache, ["long", "nope"], 5, 1)
    with pytest.raises(HiermovieError, match="is not a multiple of the extraction stride"):
        retrieval_windows(cache, ["long"], 5, 1.5)


def test_retrieval_on_cache_windows(cache):
    windows = retrieval_windows(cache, cache.video_ids, 5, 1)
    assert masked_event_retrieval(Oracle(), windows)["r1"] == 1.0  # the centre tokens are distinct real tokens
