"""Each pretraining option of Table 2 (mask sizes, token stride, L2 loss, max-discrepancy sampling) and
of TxEConfig (hard negatives, live/EMA targets, same-video exclusion) changes what it claims, checked at
the unit level on a tiny TxE (MaskPrediction directly) against brute-force references."""

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hiermovie.cache import EventCache
from hiermovie.contextualize.config import TxEConfig
from hiermovie.contextualize.data import token_windows
from hiermovie.contextualize.losses import mask_l2_loss, mask_nce_loss
from hiermovie.contextualize.masking import max_discrepancy_masks, uniform_span_masks
from hiermovie.contextualize.model import create_txe
from hiermovie.contextualize.pretrain import MaskPrediction, check_config, discrepancy
from hiermovie.contextualize.queue import NegativeQueue

UNIT = TxEConfig(
    input_dim=12, hidden_dim=16, num_layers=1, num_heads=2, ffn_dim=32, dropout=0.0, queue_size=24, batch_size=4
)


def _batch(batch: int, seed: int, videos: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, 5, 12, generator=g), torch.randint(0, videos, (batch,), generator=g)  # (B, N, D), (B,)


def _mask(batch: int, seed: int, sizes=(1, 2, 3)) -> torch.Tensor:
    return uniform_span_masks(batch, 5, sizes, torch.Generator().manual_seed(seed))  # (B, N)


def _model(config: TxEConfig, queue: NegativeQueue | None = None, seed: int = 0) -> MaskPrediction:
    torch.manual_seed(seed)
    queue = queue if queue is not None else NegativeQueue(config.queue_size, config.hidden_dim)
    return MaskPrediction(txe=create_txe(config), queue=queue, config=config)


def _fill(model: MaskPrediction, steps: int, seed: int) -> None:
    """`steps` training steps of 4 windows (20 keys each) through the model: its own targets fill the queue."""
    model.train()
    for step in range(steps):
        x, v = _batch(4, seed + step)
        model(x, v, _mask(4, seed + step))


# ---------------------------------------------------------------- mask sizes (Table 2, top)
@pytest.mark.parametrize("sizes", [(1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)])
def test_mask_sizes_are_the_set_asked_for_and_all_occur(sizes):
    cache = SimpleNamespace(dim=UNIT.input_dim, root="cache")
    assert check_config(replace(UNIT, mask_sizes=sizes), cache) == sizes  # what pretraining draws from
    masks = uniform_span_masks(2000, 5, sizes, torch.Generator().manual_seed(0))  # (B, N)
    drawn = masks.sum(dim=1)  # (B,)
    assert set(drawn.tolist()) == set(sizes)
    starts = masks.int().argmax(dim=1)  # (B,) first masked token
    spans = (torch.arange(5) >= starts[:, None]) & (torch.arange(5) < (starts + drawn)[:, None])  # (B, N)
    assert torch.equal(masks, spans)  # one contiguous span
    assert check_config(UNIT, cache) == (1, 2, 3)  # no explicit set: {1, ..., floor(0.6 * 5)}


# ---------------------------------------------------------------- token stride (Table 2, middle)
@pytest.mark.parametrize("stride", [1.0, 2.0, 3.0])
def test_stride_windows_are_every_kth_token_of_the_1s_cache(tiny_cache, stride):
    step = int(stride)
    with EventCache(tiny_cache) as cache:
        video_ids = [v for v in cache.video_ids if len(cache.tokens(v)) >= 5 * 3]  # long enough at every stride
        windows = token_windows(cache, video_ids, 5, stride)
        expected = []
        for video_id in video_ids:
            kept = cache.tokens(video_id).features[::step].astype(np.float32)  # (L', D) every k-th token
            expected += [kept[i : i + 5] for i in range(len(kept) - 4)]
    assert video_ids and len(windows) == len(expected)
    np.testing.assert_array_equal(windows.features, np.stack(expected))


# ---------------------------------------------------------------- L2 loss (Table 2, bottom)
class _UnreadableQueue(NegativeQueue):
    def forward(self):
        raise AssertionError("the L2 loss read the queue")

    def hard_negatives(self, *args, **kwargs):
        raise AssertionError("the L2 loss searched the queue")


def test_l2_loss_is_mask_l2_of_the_outputs_and_never_reads_the_queue():
    config = replace(UNIT, loss="l2", hard_negatives=3)
    model = _model(config, _UnreadableQueue(config.queue_size, config.hidden_dim))
    x, v = _batch(6, seed=1)
    mask = _mask(6, seed=1)
    loss, _ = model(x, v, mask)
    expected = mask_l2_loss(model.txe(x, mask)[mask], model.targets(x)[mask])  # (M, H), (M, H)
    torch.testing.assert_close(loss, expected)
    contrastive = _model(replace(config, loss="contrastive", hard_negatives=0))
    assert not torch.allclose(contrastive(x, v, mask)[0], expected)  # the option changes the loss


# ---------------------------------------------------------------- max discrepancy (Table 2, bottom)
def _eval_discrepancy(txe, x: torch.Tensor) -> torch.Tensor:
    """1 - cos(v_i, v'_i) per token (paper, Table 2 discussion): eval mode, one masked token at a time. (B, N)"""
    txe.eval()
    with torch.no_grad():
        plain = txe(x)  # (B, N, H)
        result = torch.zeros(x.shape[:2])  # (B, N)
        for i in range(x.shape[1]):
            mask = torch.zeros(x.shape[:2], dtype=torch.bool)
            mask[:, i] = True
            result[:, i] = 1 - (plain[:, i] * txe(x, mask)[:, i]).sum(-1)  # (B,)
    return result


def test_discrepancy_is_computed_in_eval_mode_and_restores_the_mode():
    txe = create_txe(replace(UNIT, dropout=0.1))
    x, _ = _batch(64, seed=2)
    expected = _eval_discrepancy(txe, x)  # (B, N)
    txe.train()
    chosen = []
    for seed in (1, 2):  # different dropout draws: the choice must not depend on them
        torch.manual_seed(seed)
        scores = discrepancy(txe, x)  # (B, N)
        assert txe.training  # the mode is restored
        torch.testing.assert_close(scores, expected, atol=1e-5, rtol=1e-5)
        chosen.append(max_discrepancy_masks(scores, (1, 2, 3), torch.Generator().manual_seed(0)))
    assert torch.equal(chosen[0], chosen[1])
    discrepancy(txe.eval(), x)
    assert not txe.training


def test_max_discrepancy_masks_the_span_of_largest_eval_mode_discrepancy():
    txe = create_txe(replace(UNIT, dropout=0.1)).train()
    x, _ = _batch(64, seed=3)
    reference = _eval_discrepancy(txe, x)  # (B, N)
    txe.train()
    masks = max_discrepancy_masks(discrepancy(txe, x), (1, 2, 3), torch.Generator().manual_seed(0))  # (B, N)
    for row, mask in zip(reference, masks, strict=True):
        size = int(mask.sum())
        totals = [float(row[s : s + size].sum()) for s in range(5 - size + 1)]  # every span of this size
        best = int(np.argmax(totals))
        assert mask.tolist() == [best <= i < best + size for i in range(5)]
    assert len(set(masks.sum(dim=1).tolist())) == 3  # all sizes drawn
    assert not torch.equal(masks, _mask(64, seed=0))  # not the uniform draw


# ---------------------------------------------------------------- hard negatives
def test_hard_negatives_loss_is_mask_nce_over_the_k_nearest_current_keys():
    config = replace(UNIT, hard_negatives=3)
    model = _model(config)
    model.queue.enqueue(F.normalize(torch.randn(20, 16), dim=1), torch.arange(20) % 3)  # 20 of 24 slots
    _fill(model, 4, seed=20)  # searched in the first step, then 80 more keys: over three turnovers of the queue
    model.eval()  # no enqueue while checking
    x, v = _batch(4, seed=30)
    mask = _mask(4, seed=30)
    loss, _ = model(x, v, mask)
    queue = model.queue
    outputs, positives = model.txe(x, mask)[mask], model.targets(x)[mask]  # (M, H), (M, H)
    query_video = v[:, None].expand_as(mask)[mask]  # (M,)
    scores = outputs @ queue.keys.T  # (M, K) brute force over the current keys
    scores[(queue.video < 0) | (query_video[:, None] == queue.video)] = float("-inf")
    nearest = scores.topk(3, dim=1).indices  # (M, 3)
    expected = mask_nce_loss(outputs, positives, queue.keys[nearest], 0.1, query_video, queue.video[nearest])
    torch.testing.assert_close(loss, expected)
    everything = mask_nce_loss(outputs, positives, queue.keys, 0.1, query_video, queue.video)
    assert not torch.allclose(loss, everything)  # k < K distractors: the option changes the loss


# ---------------------------------------------------------------- live vs EMA targets
def test_update_ema_moves_the_target_projection_by_one_minus_m_of_the_difference():
    model = _model(replace(UNIT, ema_momentum=0.9))
    with torch.no_grad():
        for live in model.txe.input_proj.parameters():
            live.add_(torch.randn_like(live))  # the live projection moves away from the EMA copy
    before = [p.clone() for p in model.target_projection.parameters()]
    live = [p.detach().clone() for p in model.txe.input_proj.parameters()]
    model.update_ema()
    for old, new, current in zip(before, model.target_projection.parameters(), live, strict=True):
        torch.testing.assert_close(new - old, 0.1 * (current - old))
        assert not new.requires_grad


@pytest.mark.parametrize("target", ["ema", "live"])
def test_targets_and_loss_come_from_the_projection_asked_for(target):
    model = _model(replace(UNIT, target=target))
    with torch.no_grad():
        for live in model.txe.input_proj.parameters():
            live.add_(torch.randn_like(live))  # live and EMA projections now differ
    _fill(model, 2, seed=60)  # distractors, so that the loss has a gradient
    x, v = _batch(4, seed=4)
    mask = _mask(4, seed=4)
    projection = model.txe.input_proj if target == "live" else model.target_projection
    assert (model.target_projection is None) == (target == "live")
    with torch.no_grad():
        expected_targets = F.normalize(projection(x), dim=-1)  # (B, N, H)
    targets = model.targets(x)
    torch.testing.assert_close(targets, expected_targets)
    assert not targets.requires_grad  # stop-gradient either way
    model.eval()
    loss, _ = model(x, v, mask)
    keys, key_video = model.queue()
    outputs = model.txe(x, mask)[mask]  # (M, H)
    query_video = v[:, None].expand_as(mask)[mask]  # (M,)
    torch.testing.assert_close(loss, mask_nce_loss(outputs, expected_targets[mask], keys, 0.1, query_video, key_video))
    loss.backward()  # gradients reach the live projection only through the outputs, never the EMA copy
    assert model.txe.input_proj.weight.grad.abs().sum() > 0
    if target == "ema":
        assert all(p.grad is None for p in model.target_projection.parameters())


# ---------------------------------------------------------------- same-video exclusion
@pytest.mark.parametrize("exclude", [True, False])
def test_same_video_keys_get_no_weight_only_when_excluded(exclude):
    model = _model(replace(UNIT, exclude_same_video=exclude))
    _fill(model, 2, seed=40)  # 40 keys over 24 slots, videos 0..2
    model.eval()
    x, v = _batch(4, seed=50)
    v[:] = 1  # every query from video 1
    mask = _mask(4, seed=50)
    loss, _ = model(x, v, mask)
    same = model.queue.video == 1  # (K,)
    assert same.any() and (~same).any()
    with torch.no_grad():
        model.queue.keys[same] = model.targets(x)[mask][0]  # same-video keys become near-copies of a positive
    changed, _ = model(x, v, mask)
    assert torch.allclose(changed, loss) == exclude
    if exclude:
        outputs, positives = model.txe(x, mask)[mask], model.targets(x)[mask]  # (M, H)
        keys = model.queue.keys[~same]  # (K', H) the other videos' keys alone
        torch.testing.assert_close(loss, mask_nce_loss(outputs, positives, keys, 0.1))
