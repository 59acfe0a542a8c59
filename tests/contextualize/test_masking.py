"""Mask sampling: the size set, uniform spans (exact support, uniform sizes and starts), max discrepancy."""

import pytest
import torch

from hiermovie.contextualize.masking import (
    mask_size_set,
    max_discrepancy_masks,
    single_token_masks,
    token_discrepancy,
    uniform_span_masks,
)


@pytest.mark.parametrize(
    "seq_len, alpha, sizes, expected",
    [
        (5, 0.6, (), (1, 2, 3)),  # the paper's setting
        (5, 0.2, (), (1,)),
        (5, 0.8, (), (1, 2, 3, 4)),
        (10, 0.7, (), (1, 2, 3, 4, 5, 6, 7)),  # 0.7 * 10 is 7.000000000000001 in floats
        (10, 0.29, (), (1, 2)),
        (2, 0.5, (), (1,)),
        (5, 0.6, (1, 2), (1, 2)),  # explicit sizes win (Table 2, top)
        (5, 0.0, (4,), (4,)),
        (5, 0.6, (3, 1, 3), (1, 3)),  # a set: sorted, duplicates dropped
    ],
)
def test_mask_size_set(seq_len, alpha, sizes, expected):
    assert mask_size_set(seq_len, alpha, sizes) == expected


@pytest.mark.parametrize(
    "seq_len, alpha, sizes, message",
    [
        (5, 1.0, (), "mask size 5 leaves no context in a window of 5 tokens"),
        (5, 0.6, (5,), "mask size 5 leaves no context in a window of 5 tokens"),
        (5, 0.6, (1, 7), "mask size 7 leaves no context"),
        (5, 0.1, (), r"alpha \* N = 0.1 \* 5 < 1"),
        (5, -1.0, (), "< 1"),
        (5, 0.6, (0,), "integers >= 1"),
        (5, 0.6, (-2, 1), "integers >= 1"),
        (5, 0.6, (1.5,), "integers >= 1"),
        (1, 0.6, (), "at least 2 tokens"),
    ],
)
def test_mask_size_set_errors(seq_len, alpha, sizes, message):
    with pytest.raises(ValueError, match=message):
        mask_size_set(seq_len, alpha, sizes)


def _spans(masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Start and length of each row's mask, asserting it is exactly one contiguous span."""
    starts, lengths = [], []
    for row in masks.tolist():
        positions = [i for i, masked in enumerate(row) if masked]
        assert positions and positions == list(range(positions[0], positions[-1] + 1)), row
        starts.append(positions[0])
        lengths.append(len(positions))
    return torch.tensor(starts), torch.tensor(lengths)


def test_uniform_masks_are_one_span_of_an_allowed_size():
    masks = uniform_span_masks(500, 7, (2, 5), generator=torch.Generator().manual_seed(0))
    assert masks.shape == (500, 7) and masks.dtype == torch.bool
    starts, lengths = _spans(masks)
    assert set(lengths.tolist()) == {2, 5}
    assert (starts + lengths <= 7).all()


def test_uniform_masks_sizes_and_starts_are_uniform():
    draws, seq_len, sizes = 20_000, 5, (1, 2, 3)
    starts, lengths = _spans(uniform_span_masks(draws, seq_len, sizes, generator=torch.Generator().manual_seed(1)))
    for size in sizes:
        chosen = lengths == size
        share = chosen.float().mean().item()
        assert share == pytest.approx(1 / len(sizes), abs=0.02)  # sd ~ 0.0033
        counts = torch.bincount(starts[chosen], minlength=seq_len)[: seq_len - size + 1]  # every start in range
        assert counts.sum() == chosen.sum()  # no start outside {0, ..., N - m}
        expected = chosen.sum().item() / (seq_len - size + 1)
        assert (counts.float() - expected).abs().max().item() < 0.1 * expected  # sd <~ 2.7% of expected


def test_uniform_masks_are_reproducible_and_device_placed():
    a = uniform_span_masks(32, 5, (1, 2, 3), generator=torch.Generator().manual_seed(7), device="cpu")
    b = uniform_span_masks(32, 5, (1, 2, 3), generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b) and a.device.type == "cpu"
    with pytest.raises(ValueError, match="no context"):
        uniform_span_masks(2, 5, (5,))


def test_max_discrepancy_picks_the_span_with_the_largest_total():
    discrepancy = torch.tensor(
        [
            [0.1, 0.9, 0.2, 0.8, 0.0],  # m=1: token 1; m=2: [0.9, 0.2] 1.1 vs [0.2, 0.8] 1.0 -> start 1
            [0.0, 0.0, 0.0, 0.5, 0.6],  # the end wins
            [0.3, 0.3, 0.3, 0.3, 0.3],  # all tied: the first span
            [0.5, 0.1, 0.1, 0.1, 0.5],  # m=2 tie between starts 0 and 3 -> 0
        ]
    )
    expected = {
        1: [[0, 1, 0, 0, 0], [0, 0, 0, 0, 1], [1, 0, 0, 0, 0], [1, 0, 0, 0, 0]],
        2: [[0, 1, 1, 0, 0], [0, 0, 0, 1, 1], [1, 1, 0, 0, 0], [1, 1, 0, 0, 0]],
        # m=3, row 0: totals 1.2, 1.9, 1.0; row 3: 0.7, 0.3, 0.7 (tie -> 0)
        3: [[0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 1, 0, 0]],
    }
    for size, rows in expected.items():
        got = max_discrepancy_masks(discrepancy, (size,), generator=torch.Generator().manual_seed(0))
        assert got.int().tolist() == rows, size


def test_max_discrepancy_draws_sizes_from_the_set():
    discrepancy = torch.rand(2000, 5, generator=torch.Generator().manual_seed(0))
    masks = max_discrepancy_masks(discrepancy, (1, 3), generator=torch.Generator().manual_seed(1))
    starts, lengths = _spans(masks)
    assert set(lengths.tolist()) == {1, 3}
    assert (lengths == 1).float().mean().item() == pytest.approx(0.5, abs=0.05)
    for row, start, length in zip(discrepancy, starts, lengths, strict=True):
        totals = [row[s : s + length].sum().item() for s in range(5 - length + 1)]
        assert start.item() == max(range(len(totals)), key=lambda s: (totals[s], -s))


def test_single_token_masks():
    masks = single_token_masks(2, 3)
    assert masks.shape == (6, 3) and masks.dtype == torch.bool
    assert masks.int().tolist() == [[1, 0, 0], [0, 1, 0], [0, 0, 1]] * 2


def test_token_discrepancy_pairs_copy_i_with_token_i():
    batch, seq_len, hidden = 2, 3, 4
    unmasked = torch.nn.functional.normalize(torch.randn(batch, seq_len, hidden), dim=-1)
    single = unmasked.repeat_interleave(seq_len, dim=0).clone()  # (B * N, N, H): no change anywhere...
    single[1 * seq_len + 2, 2] = -unmasked[1, 2]  # ...except token 2 of window 1, in its own copy
    single[0 * seq_len + 0, 1] = -unmasked[0, 1]  # a change in another token's copy does not count
    expected = torch.zeros(batch, seq_len)
    expected[1, 2] = 2.0
    torch.testing.assert_close(token_discrepancy(unmasked, single), expected, atol=1e-6, rtol=0)
