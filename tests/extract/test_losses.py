"""Stage-1 losses against independent NumPy versions written from the papers' formulas, plus SGD sanity."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from hiermovie.extract.losses import moco_nce_loss, modist_loss, nt_xent_loss


def _normalised(*shape: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64), dim=-1)


def _ntxent_rows_manual(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Per-row symmetric NT-Xent of a single-process batch, with explicit loops (SimCLR/CVRL formula).

    l_i^a = -log exp(a_i.b_i/t) / (sum_j exp(a_i.b_j/t) + sum_{j != i} exp(a_i.a_j/t)); l_i^b swaps a and b.
    """
    n = a.shape[0]
    rows = np.zeros(n)
    for i in range(n):
        for x, y in ((a, b), (b, a)):
            denominator = 0.0
            for j in range(n):
                denominator += math.exp(float(x[i] @ y[j]) / t)
                if j != i:
                    denominator += math.exp(float(x[i] @ x[j]) / t)
            rows[i] += 0.5 * -math.log(math.exp(float(x[i] @ y[i]) / t) / denominator)
    return rows


def _moco_manual(q: np.ndarray, k: np.ndarray, queue: np.ndarray, t: float) -> float:
    """Mean over i of -log exp(q_i.k_i/t) / (exp(q_i.k_i/t) + sum_j exp(q_i.n_j/t)), with loops."""
    total = 0.0
    for i in range(q.shape[0]):
        positive = math.exp(float(q[i] @ k[i]) / t)
        negatives = sum(math.exp(float(q[i] @ n) / t) for n in queue)
        total += -math.log(positive / (positive + negatives))
    return total / q.shape[0]


@pytest.mark.parametrize("batch, dim", [(1, 4), (4, 8), (7, 16)])
@pytest.mark.parametrize("temperature", [0.1, 0.5, 1.0])
def test_nt_xent_matches_numpy(batch, dim, temperature):
    a, b = _normalised(batch, dim, seed=batch), _normalised(batch, dim, seed=batch + 100)
    expected = _ntxent_rows_manual(a.numpy(), b.numpy(), temperature).mean()
    got = nt_xent_loss(a, b, temperature)
    assert got.item() == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("world, rank", [(2, 0), (2, 1), (3, 2), (4, 1)])
def test_nt_xent_gathered_equals_single_process_rows(world, rank):
    batch, dim, t = 3, 8, 0.2
    all_a, all_b = _normalised(world * batch, dim, seed=1), _normalised(world * batch, dim, seed=2)
    offset = rank * batch
    z_a, z_b = all_a[offset : offset + batch], all_b[offset : offset + batch]
    rows = _ntxent_rows_manual(all_a.numpy(), all_b.numpy(), t)
    got = nt_xent_loss(z_a, z_b, t, all_a=all_a, all_b=all_b, offset=offset)
    assert got.item() == pytest.approx(rows[offset : offset + batch].mean(), rel=1e-9)


def test_nt_xent_mean_over_ranks_is_the_single_process_loss():
    world, batch, dim, t = 3, 4, 8, 0.1
    all_a, all_b = _normalised(world * batch, dim, seed=3), _normalised(world * batch, dim, seed=4)
    per_rank = [
        nt_xent_loss(all_a[r * batch : (r + 1) * batch], all_b[r * batch : (r + 1) * batch], t, all_a, all_b, r * batch)
        for r in range(world)
    ]
    assert torch.stack(per_rank).mean().item() == pytest.approx(nt_xent_loss(all_a, all_b, t).item(), rel=1e-12)


def test_nt_xent_gradient_reaches_local_rows_inserted_in_gathered_batch():
    batch, dim = 2, 8
    z_a = _normalised(batch, dim, seed=5).requires_grad_()
    z_b = _normalised(batch, dim, seed=6).requires_grad_()
    other_a, other_b = _normalised(batch, dim, seed=7), _normalised(batch, dim, seed=8)  # "gathered", no grad
    all_a, all_b = torch.cat([other_a, z_a]), torch.cat([other_b, z_b])  # local batch on rank 1
    nt_xent_loss(z_a, z_b, 0.1, all_a, all_b, offset=batch).backward()
    assert z_a.grad is not None and z_a.grad.abs().sum() > 0
    assert z_b.grad is not None and z_b.grad.abs().sum() > 0


def test_nt_xent_is_symmetric():
    a, b = _normalised(5, 8, seed=9), _normalised(5, 8, seed=10)
    assert nt_xent_loss(a, b).item() == pytest.approx(nt_xent_loss(b, a).item(), rel=1e-12)


def test_nt_xent_perfect_alignment_is_low():
    batch, dim = 8, 16
    a = F.normalize(torch.eye(batch, dim, dtype=torch.float64), dim=1)  # orthogonal rows
    aligned = nt_xent_loss(a, a.clone(), temperature=0.1).item()
    shuffled = nt_xent_loss(a, a.roll(1, dims=0), temperature=0.1).item()
    assert aligned < 1e-3
    assert shuffled > 5.0


def test_nt_xent_rejects_bad_offset_and_half_gathered():
    a, b = _normalised(4, 8, seed=11), _normalised(4, 8, seed=12)
    with pytest.raises(ValueError, match="offset"):
        nt_xent_loss(a[:2], b[:2], all_a=a, all_b=b, offset=3)
    with pytest.raises(ValueError, match="both"):
        nt_xent_loss(a, b, all_a=a)


def test_nt_xent_decreases_over_sgd_steps():
    features = torch.randn(16, 32, generator=torch.Generator().manual_seed(0))  # (B, 32) two noisy views below
    view_a = features + 0.3 * torch.randn(16, 32, generator=torch.Generator().manual_seed(1))
    view_b = features + 0.3 * torch.randn(16, 32, generator=torch.Generator().manual_seed(2))
    torch.manual_seed(0)
    head = torch.nn.Linear(32, 8)
    optimizer = torch.optim.SGD(head.parameters(), lr=0.5)
    losses = []
    for _ in range(20):
        loss = nt_xent_loss(F.normalize(head(view_a), dim=1), F.normalize(head(view_b), dim=1), 0.2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("batch, queue_size, dim", [(1, 1, 4), (4, 16, 8), (5, 33, 16)])
@pytest.mark.parametrize("temperature", [0.07, 0.1, 1.0])
def test_moco_nce_matches_numpy(batch, queue_size, dim, temperature):
    q, k = _normalised(batch, dim, seed=20), _normalised(batch, dim, seed=21)
    queue = _normalised(queue_size, dim, seed=22)
    expected = _moco_manual(q.numpy(), k.numpy(), queue.numpy(), temperature)
    assert moco_nce_loss(q, k, queue, temperature).item() == pytest.approx(expected, rel=1e-9)


def test_moco_nce_gradient_reaches_query_and_not_queue():
    q = _normalised(4, 8, seed=23).requires_grad_()
    k, queue = _normalised(4, 8, seed=24), _normalised(16, 8, seed=25)
    moco_nce_loss(q, k, queue).backward()
    assert q.grad is not None and q.grad.abs().sum() > 0
    assert not queue.requires_grad


def test_moco_nce_does_not_detach_key():
    q, k = _normalised(4, 8, seed=26), _normalised(4, 8, seed=27).requires_grad_()
    moco_nce_loss(q, k, _normalised(16, 8, seed=28)).backward()
    assert k.grad is not None and k.grad.abs().sum() > 0


def test_moco_nce_decreases_over_sgd_steps():
    generator = torch.Generator().manual_seed(3)
    x = torch.randn(16, 32, generator=generator)  # (B, 32)
    key = F.normalize(x[:, :8] + 0.1 * torch.randn(16, 8, generator=generator), dim=1)  # (B, 8) fixed keys
    queue = F.normalize(torch.randn(64, 8, generator=generator), dim=1)  # (K, 8)
    torch.manual_seed(0)
    head = torch.nn.Linear(32, 8)
    optimizer = torch.optim.SGD(head.parameters(), lr=0.5)
    losses = []
    for _ in range(20):
        loss = moco_nce_loss(F.normalize(head(x), dim=1), key, queue, 0.2)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("motion_weight", [0.0, 0.5, 1.0])
def test_modist_is_weighted_sum_of_its_three_terms(motion_weight):
    qv, kv, qm, km = (_normalised(4, 8, seed=s) for s in (30, 31, 32, 33))
    queue_v, queue_m = _normalised(12, 8, seed=34), _normalised(20, 8, seed=35)
    loss, terms = modist_loss(qv, kv, qm, km, queue_v, queue_m, temperature=0.1, motion_weight=motion_weight)
    assert set(terms) == {"loss_vv", "loss_vm", "loss_mv"}
    assert all(isinstance(value, float) for value in terms.values())
    assert terms["loss_vv"] == pytest.approx(moco_nce_loss(qv, kv, queue_v).item(), rel=1e-12)
    assert terms["loss_vm"] == pytest.approx(moco_nce_loss(qv, km, queue_m).item(), rel=1e-12)
    assert terms["loss_mv"] == pytest.approx(moco_nce_loss(qm, kv, queue_v).item(), rel=1e-12)
    expected = terms["loss_vv"] + motion_weight * (terms["loss_vm"] + terms["loss_mv"])
    assert loss.item() == pytest.approx(expected, rel=1e-12)
    numpy_vm = _moco_manual(qv.numpy(), km.numpy(), queue_m.numpy(), 0.1)  # visual query vs motion negatives
    assert terms["loss_vm"] == pytest.approx(numpy_vm, rel=1e-9)


def test_modist_gradient_reaches_both_queries():
    qv, qm = _normalised(4, 8, seed=40).requires_grad_(), _normalised(4, 8, seed=41).requires_grad_()
    kv, km = _normalised(4, 8, seed=42), _normalised(4, 8, seed=43)
    loss, _ = modist_loss(qv, kv, qm, km, _normalised(16, 8, seed=44), _normalised(16, 8, seed=45))
    loss.backward()
    assert qv.grad is not None and qv.grad.abs().sum() > 0
    assert qm.grad is not None and qm.grad.abs().sum() > 0


# ---------------------------------------------------------------- chance: the loss of knowing nothing
def test_chance_loss_is_each_loss_at_uninformative_embeddings():
    """With every embedding equal, each loss is exactly the log of its number of candidates."""
    from dataclasses import replace

    from hiermovie.extract.config import BACKBONE_PROFILES
    from hiermovie.extract.methods import chance_loss

    config = replace(BACKBONE_PROFILES["tiny"], batch_size=6, queue_size=10)
    same = F.normalize(torch.ones(6, 4, dtype=torch.float64), dim=1)  # (B, D), all rows equal
    cvrl = nt_xent_loss(same, same.clone(), 0.1)
    assert chance_loss(replace(config, method="cvrl"), 5) == pytest.approx(cvrl.item()) == pytest.approx(math.log(11))
    queue = F.normalize(torch.ones(10, 4, dtype=torch.float64), dim=1)  # (K, D)
    modist, _ = modist_loss(same, same, same, same, queue, queue, 0.1, 1.0)
    assert chance_loss(replace(config, method="modist"), 5) == pytest.approx(modist.item())
    assert modist.item() == pytest.approx(3 * math.log(11))
    logits = torch.zeros(6, 5)  # (B, C): a classifier that knows nothing
    supervised = F.cross_entropy(logits, torch.arange(6) % 5)
    assert chance_loss(replace(config, method="supervised"), 5) == pytest.approx(supervised.item())


# ---------------------------------------------------------------- fp32 under bf16 autocast
def _bf16_rows(rows: int, dim: int, seed: int) -> torch.Tensor:
    """Float32 rows that bf16 holds exactly, L2-normalised around one shared direction (logits near 1 / T,
    where a bf16 matmul rounds by ~0.03). (rows, dim)"""
    shared = torch.randn(1, dim, generator=torch.Generator().manual_seed(0))  # (1, D)
    noise = torch.randn(rows, dim, generator=torch.Generator().manual_seed(seed))  # (rows, D)
    return F.normalize(shared + noise, dim=1).to(torch.bfloat16).float()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_nt_xent_under_bf16_autocast_is_the_fp32_loss(dtype):
    world, batch, dim = 2, 8, 64
    all_a, all_b = _bf16_rows(world * batch, dim, seed=50), _bf16_rows(world * batch, dim, seed=51)  # (N, D)
    expected = nt_xent_loss(all_a[batch:], all_b[batch:], 0.1, all_a, all_b, offset=batch)  # fp32, no autocast
    z_a, z_b = all_a[batch:].to(dtype).requires_grad_(), all_b[batch:].to(dtype).requires_grad_()  # rank 1 of 2
    gathered_a, gathered_b = torch.cat([all_a[:batch].to(dtype), z_a]), torch.cat([all_b[:batch].to(dtype), z_b])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = nt_xent_loss(z_a, z_b, 0.1, gathered_a, gathered_b, offset=batch)
    assert got.dtype == torch.float32
    assert got.item() == pytest.approx(expected.item(), abs=1e-5)
    got.backward()
    assert z_a.grad is not None and z_a.grad.dtype == dtype and z_a.grad.abs().sum() > 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_moco_and_modist_under_bf16_autocast_are_the_fp32_losses(dtype):
    q, k, queue = _bf16_rows(8, 64, seed=52), _bf16_rows(8, 64, seed=53), _bf16_rows(256, 64, seed=54)
    expected = moco_nce_loss(q, k, queue, 0.1)  # fp32, no autocast
    expected_modist, _ = modist_loss(q, k, k, q, queue, queue, 0.1, 1.0)
    query, key, negatives = q.to(dtype).requires_grad_(), k.to(dtype), queue.to(dtype)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = moco_nce_loss(query, key, negatives, 0.1)
        got_modist, _ = modist_loss(query, key, key, query, negatives, negatives, 0.1, 1.0)
    assert got.dtype == got_modist.dtype == torch.float32
    assert got.item() == pytest.approx(expected.item(), abs=1e-5)
    assert got_modist.item() == pytest.approx(expected_modist.item(), abs=1e-5)
    got.backward()
    assert query.grad is not None and query.grad.dtype == dtype and query.grad.abs().sum() > 0
