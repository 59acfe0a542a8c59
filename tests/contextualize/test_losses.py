"""Stage-2 losses against independent NumPy versions written from Eq. 1 with explicit loops, plus SGD sanity."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hiermovie.contextualize.losses import mask_l2_loss, mask_nce_loss


def _normalised(*shape: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), dim=-1)


def _eq1_manual(o, t, p, tau, query_video=None, negative_video=None) -> float:
    """Mean over masked positions of -log exp(o.t/tau) / (exp(o.t/tau) + sum_i exp(o.p_i/tau)), with loops.

    p is (K, H) shared or (M, K, H) per row; a distractor counts only if its video id is >= 0 and differs
    from the query's (when ids are given).
    """
    total = 0.0
    for m in range(o.shape[0]):
        row = p if p.ndim == 2 else p[m]
        ids = None if negative_video is None else (negative_video if negative_video.ndim == 1 else negative_video[m])
        positive = math.exp(float(o[m] @ t[m]) / tau)
        distractors = 0.0
        for i in range(row.shape[0]):
            if ids is not None and ids[i] < 0:
                continue
            if ids is not None and query_video is not None and ids[i] == query_video[m]:
                continue
            distractors += math.exp(float(o[m] @ row[i]) / tau)
        total += -math.log(positive / (positive + distractors))
    return total / o.shape[0]


@pytest.mark.parametrize("count, keys, dim", [(1, 1, 4), (5, 16, 8), (9, 40, 16)])
@pytest.mark.parametrize("temperature", [0.07, 0.1, 1.0])
def test_mask_nce_matches_numpy(count, keys, dim, temperature):
    o, t, p = _normalised(count, dim, seed=1), _normalised(count, dim, seed=2), _normalised(keys, dim, seed=3)
    expected = _eq1_manual(o.numpy(), t.numpy(), p.numpy(), temperature)
    assert mask_nce_loss(o, t, p, temperature).item() == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mask_nce_same_video_and_empty_slots_match_numpy(seed):
    count, keys, dim, tau = 6, 30, 8, 0.1
    g = torch.Generator().manual_seed(seed)
    o, t, p = (
        _normalised(count, dim, seed=seed),
        _normalised(count, dim, seed=seed + 10),
        _normalised(keys, dim, seed=7),
    )
    query_video = torch.randint(0, 4, (count,), generator=g)
    negative_video = torch.randint(-1, 4, (keys,), generator=g)  # -1: empty slots
    assert (negative_video < 0).any() and (query_video[:, None] == negative_video).any()
    got = mask_nce_loss(o, t, p, tau, query_video=query_video, negative_video=negative_video)
    expected = _eq1_manual(o.numpy(), t.numpy(), p.numpy(), tau, query_video.numpy(), negative_video.numpy())
    assert got.item() == pytest.approx(expected, rel=1e-9)
    # only empty slots excluded when the queries' videos are not given
    got = mask_nce_loss(o, t, p, tau, negative_video=negative_video)
    expected = _eq1_manual(o.numpy(), t.numpy(), p.numpy(), tau, None, negative_video.numpy())
    assert got.item() == pytest.approx(expected, rel=1e-9)


def test_mask_nce_per_query_negatives_match_numpy():
    count, keys, dim, tau = 4, 5, 8, 0.2
    o, t, p = _normalised(count, dim, seed=1), _normalised(count, dim, seed=2), _normalised(count, keys, dim, seed=3)
    query_video = torch.tensor([0, 1, 2, 3])
    negative_video = torch.tensor([[0, 1, -1, 2, 3], [1, 1, 1, 0, 0], [5, 6, 7, 8, 9], [3, 3, 3, 3, 3]])
    got = mask_nce_loss(o, t, p, tau, query_video=query_video, negative_video=negative_video)
    expected = _eq1_manual(o.numpy(), t.numpy(), p.numpy(), tau, query_video.numpy(), negative_video.numpy())
    assert got.item() == pytest.approx(expected, rel=1e-9)
    assert torch.isfinite(got)  # the last row has no distractor left: loss 0 for it, not NaN


def test_mask_nce_all_distractors_excluded_is_zero_with_finite_gradient():
    o = _normalised(3, 4, seed=1).requires_grad_()
    t, p = _normalised(3, 4, seed=2), _normalised(5, 4, seed=3)
    loss = mask_nce_loss(o, t, p, negative_video=torch.full((5,), -1))
    loss.backward()
    assert loss.item() == 0.0 and torch.isfinite(o.grad).all()


def test_mask_nce_refuses_bad_shapes():
    o, p = _normalised(3, 4, seed=1), _normalised(5, 4, seed=2)
    with pytest.raises(ValueError, match="outputs and targets"):
        mask_nce_loss(o, o[:2], p)
    with pytest.raises(ValueError, match="negatives"):
        mask_nce_loss(o, o, p[:, :3])
    with pytest.raises(ValueError, match="negative_video"):
        mask_nce_loss(o, o, p, negative_video=torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="needs negative_video"):
        mask_nce_loss(o, o, p, query_video=torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="temperature"):
        mask_nce_loss(o, o, p, temperature=0.0)


@pytest.mark.parametrize("count, dim", [(1, 3), (6, 8), (11, 32)])
def test_mask_l2_matches_numpy(count, dim):
    o, t = _normalised(count, dim, seed=count), _normalised(count, dim, seed=count + 1)
    a, b = o.numpy(), t.numpy()
    expected = sum(sum((a[m, h] - b[m, h]) ** 2 for h in range(dim)) for m in range(count)) / count
    assert mask_l2_loss(o, t).item() == pytest.approx(expected, rel=1e-12)
    assert mask_l2_loss(o, t).item() == pytest.approx(float(np.mean(2 - 2 * np.sum(a * b, axis=1))), rel=1e-9)


@pytest.mark.parametrize("loss_name", ["nce", "l2"])
def test_losses_decrease_over_sgd_steps(loss_name):
    torch.manual_seed(0)
    count, dim = 8, 16
    targets, queue = _normalised(count, dim, seed=1).float(), _normalised(64, dim, seed=2).float()
    raw = torch.randn(count, dim, requires_grad=True)
    optimizer = torch.optim.SGD([raw], lr=4.0)  # the mean over M shrinks each row's gradient
    losses = []
    for _ in range(20):
        outputs = F.normalize(raw, dim=1)  # (M, H)
        loss = mask_nce_loss(outputs, targets, queue) if loss_name == "nce" else mask_l2_loss(outputs, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


# ---------------------------------------------------------------- fp32 under bf16 autocast
def _bf16_rows(*shape: int, seed: int) -> torch.Tensor:
    """Float32 rows that bf16 holds exactly, L2-normalised around one shared direction (logits near 1 / tau,
    where a bf16 matmul rounds by ~0.03), as tests/extract does for the stage-1 losses. shape"""
    shared = torch.randn(shape[-1], generator=torch.Generator().manual_seed(0))  # (H,)
    noise = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))  # shape
    return F.normalize(shared + noise, dim=-1).to(torch.bfloat16).float()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("per_row", [False, True])
def test_mask_nce_under_bf16_autocast_is_the_fp64_loss(dtype, per_row):
    count, keys, dim = 8, 32, 64
    o, t = _bf16_rows(count, dim, seed=60), _bf16_rows(count, dim, seed=61)  # (M, H)
    p = _bf16_rows(count, keys, dim, seed=62) if per_row else _bf16_rows(keys, dim, seed=62)  # (M, K, H) or (K, H)
    query_video = torch.arange(count) % 3  # (M,)
    negative_video = torch.arange(keys).expand(*p.shape[:-1]) % 4 - 1  # ids -1..2: empty and same-video slots
    expected = mask_nce_loss(o.double(), t.double(), p.double(), 0.1, query_video, negative_video)  # fp64 reference
    outputs = o.to(dtype).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = mask_nce_loss(outputs, t.to(dtype), p.to(dtype), 0.1, query_video, negative_video)
        assert mask_nce_loss(o.double(), t.double(), p.double(), 0.1).dtype == torch.float64  # fp64 stays fp64
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(expected.item(), abs=1e-5)
    got.backward()
    assert outputs.grad is not None and outputs.grad.dtype == dtype and outputs.grad.abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_mask_l2_under_bf16_autocast_is_the_fp64_loss(dtype):
    o, t = _bf16_rows(8, 64, seed=63), _bf16_rows(8, 64, seed=64)  # (M, H)
    expected = mask_l2_loss(o.double(), t.double())  # fp64 reference
    outputs = o.to(dtype).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = mask_l2_loss(outputs, t.to(dtype))
        assert mask_l2_loss(o.double(), t.double()).dtype == torch.float64  # fp64 stays fp64
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(expected.item(), abs=1e-6)
    got.backward()
    assert outputs.grad is not None and outputs.grad.dtype == dtype and outputs.grad.abs().sum() > 0
