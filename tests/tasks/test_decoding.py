"""Greedy and beam decoding against hand-written references on toy transition tables."""

import itertools
import math

import pytest
import torch

from hiermovie.tasks.decoding import beam_decode, greedy_decode

BOS, EOS, PAD = 0, 1, 3  # PAD is also an ordinary token the toy models may generate


def table_step(table: torch.Tensor, calls: list | None = None):
    """A toy model: the logits of the next token are table[row, last token], table (R, V, V)."""

    def step(tokens: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        if calls is not None:
            calls.append((tokens.clone(), rows.clone()))
        return table[rows, tokens[:, -1]]

    return step


def random_table(seed: int, rows: int = 3, vocab: int = 4, scale: float = 2.0) -> torch.Tensor:
    return torch.randn(rows, vocab, vocab, generator=torch.Generator().manual_seed(seed)) * scale


def reference_greedy(table: torch.Tensor, row: int, prefix: list[int], max_len: int) -> list[int]:
    seq = list(prefix)
    while len(seq) < max_len and seq[-1] != EOS:
        seq.append(int(table[row, seq[-1]].argmax()))
    return seq


def brute_force_best(table: torch.Tensor, row: int, max_len: int, penalty: float) -> list[int]:
    """The best of all sequences after bos (ended by eos, or of length max_len) for the positional table
    (R, T, V, V) by sum log-prob / generated ** penalty."""
    logp = table[row].double().log_softmax(dim=-1)
    vocab, budget = table.size(-1), max_len - 1
    best, best_score = None, -math.inf
    for n in range(1, budget + 1):
        for generated in itertools.product(range(vocab), repeat=n):
            if EOS in generated[:-1] or (generated[-1] != EOS and n < budget):
                continue
            seq = [BOS, *generated]
            total = sum(float(logp[t, seq[t], seq[t + 1]]) for t in range(n))
            if total / n**penalty > best_score:
                best, best_score = seq, total / n**penalty
    return best


def padded(rows: list[list[int]]) -> torch.Tensor:
    width = max(map(len, rows))
    return torch.tensor([row + [PAD] * (width - len(row)) for row in rows])


PREFIX = torch.tensor([[BOS, 2], [BOS, 0], [BOS, 3]])


@pytest.mark.parametrize("seed", range(5))
def test_greedy_matches_reference(seed):
    table = random_table(seed)
    out = greedy_decode(table_step(table), PREFIX, max_len=8, eos_id=EOS, pad_id=PAD)
    expected = padded([reference_greedy(table, r, PREFIX[r].tolist(), 8) for r in range(3)])
    assert torch.equal(out, expected)


@pytest.mark.parametrize("seed", range(5))
def test_beam_size_one_is_greedy(seed):
    table = random_table(seed, vocab=6)
    for max_len in (3, 7):
        greedy = greedy_decode(table_step(table), PREFIX, max_len, EOS, PAD)
        assert torch.equal(beam_decode(table_step(table), PREFIX, 1, max_len, EOS, PAD), greedy)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("penalty", [0.0, 0.6, 1.0])
def test_exhaustive_beam_finds_the_best_sequence(seed, penalty):
    # logits depend on the position too, so that no two sequences tie
    table = torch.randn(3, 4, 4, 4, generator=torch.Generator().manual_seed(100 + seed)) * 1.5  # (R, T, V, V)

    def step(tokens: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        return table[rows, tokens.size(1) - 1, tokens[:, -1]]

    max_len = 5  # 4 generated tokens over V = 4: 4 ** 4 beams never prune anything
    out = beam_decode(step, PREFIX[:, :1], 4**4, max_len, EOS, PAD, length_penalty=penalty)
    expected = padded([brute_force_best(table, r, max_len, penalty) for r in range(3)])
    assert torch.equal(out, expected)


def test_beam_beats_greedy_on_a_trap():
    # from bos: token 2 (p .6) leads to eos with p .4; token 3 (p .4) leads to eos with p .99
    probs = torch.full((1, 4, 4), 0.25)
    probs[0, BOS] = torch.tensor([0.0, 0.0, 0.6, 0.4])
    probs[0, 2] = torch.tensor([0.2, 0.4, 0.2, 0.2])
    probs[0, 3] = torch.tensor([0.0, 0.99, 0.005, 0.005])
    table = probs.clamp(min=1e-9).log()
    prefix = torch.tensor([[BOS]])
    assert greedy_decode(table_step(table), prefix, 6, EOS, PAD).tolist() == [[BOS, 2, EOS]]
    for penalty in (0.0, 1.0):
        assert beam_decode(table_step(table), prefix, 2, 6, EOS, PAD, penalty).tolist() == [[BOS, 3, EOS]]


def test_beam_ranks_by_normalized_score():
    # bos -> eos (.45) is a strong short hypothesis by summed log-prob; bos -> 2 (.55) -> 4 (.48) -> eos (1.) is
    # the best by mean log-prob but needs both beams on [2, 2] and [2, 4] at step 2, where eos ranks third
    probs = torch.zeros(1, 5, 5)
    probs[0, BOS, [EOS, 2]] = torch.tensor([0.45, 0.55])
    probs[0, 2, [2, 4]] = torch.tensor([0.52, 0.48])
    probs[0, 4, EOS] = 1.0
    table = probs.clamp(min=1e-9).log()
    out = beam_decode(table_step(table), torch.tensor([[BOS]]), 2, 6, EOS, PAD, length_penalty=1.0)
    assert out.tolist() == [[BOS, 2, 4, EOS]]


@pytest.mark.parametrize("beam_size", [1, 3])
def test_rows_are_independent(beam_size):
    table = random_table(7, rows=4, vocab=5)
    prefix = torch.tensor([[BOS, 2], [BOS, 4], [BOS, 0], [BOS, 2]])
    batch = beam_decode(table_step(table), prefix, beam_size, 9, EOS, PAD, 0.8)
    for r in range(4):
        alone = beam_decode(table_step(table[r : r + 1]), prefix[r : r + 1], beam_size, 9, EOS, PAD, 0.8)[0]
        assert torch.equal(batch[r, : alone.numel()], alone)
        assert (batch[r, alone.numel() :] == PAD).all()
    assert len({tuple(row) for row in batch.tolist()}) > 1  # the rows' tables really differ


def _eos_after(steps: list[int], vocab: int = 6) -> torch.Tensor:
    """Row r emits tokens 2, 3, 4, ... and then eos after steps[r] tokens (never if steps[r] is large)."""
    table = torch.zeros(len(steps), vocab, vocab)
    for r, n in enumerate(steps):
        chain = [BOS] + [2 + i % (vocab - 2) for i in range(n)]
        for i, last in enumerate(chain):  # the chain's tokens are distinct for n <= vocab - 2
            table[r, last, chain[i + 1] if i + 1 < len(chain) else EOS] = 5.0
    return table


@pytest.mark.parametrize("beam_size", [1, 2, 4])
def test_eos_and_padding(beam_size):
    table = _eos_after([0, 2, 4])
    prefix = torch.full((3, 1), BOS)
    calls = []
    out = beam_decode(table_step(table, calls), prefix, beam_size, 10, EOS, PAD)
    assert out.tolist() == [
        [BOS, EOS, PAD, PAD, PAD, PAD],
        [BOS, 2, 3, EOS, PAD, PAD],
        [BOS, 2, 3, 4, 5, EOS],
    ]  # stopped after the last row's eos, long before max_len
    for tokens, rows in calls:  # ended sequences are never extended by the model
        assert not (tokens == EOS).any() and tokens.size(0) == rows.size(0)
    if beam_size == 1:
        assert [rows.tolist() for _, rows in calls] == [[0, 1, 2], [1, 2], [1, 2], [2], [2]]


@pytest.mark.parametrize("beam_size", [1, 3])
def test_max_len_cuts_unfinished_rows(beam_size):
    table = _eos_after([1, 4])
    out = beam_decode(table_step(table), torch.full((2, 1), BOS), beam_size, 4, EOS, PAD)
    assert out.tolist() == [[BOS, 2, EOS, PAD], [BOS, 2, 3, 4]]


@pytest.mark.parametrize("beam_size", [1, 2])
def test_prefix_with_eos_has_ended(beam_size):
    table = _eos_after([2, 2])
    prefix = torch.tensor([[BOS, EOS], [BOS, 2]])
    out = beam_decode(table_step(table), prefix, beam_size, 6, EOS, PAD)
    assert out.tolist() == [[BOS, EOS, PAD, PAD], [BOS, 2, 3, EOS]]


def test_argument_validation():
    step = table_step(random_table(0))
    prefix = torch.tensor([[BOS, 2]])
    with pytest.raises(ValueError, match="max_len"):
        greedy_decode(step, prefix, 2, EOS, PAD)
    with pytest.raises(ValueError, match="max_len"):
        beam_decode(step, prefix, 2, 1, EOS, PAD)
    with pytest.raises(ValueError, match="beam_size"):
        beam_decode(step, prefix, 0, 5, EOS, PAD)
    with pytest.raises(ValueError, match="prefix"):
        greedy_decode(step, torch.tensor([BOS, 2]), 5, EOS, PAD)
    with pytest.raises(ValueError, match="prefix"):
        beam_decode(step, prefix.float(), 2, 5, EOS, PAD)
    with pytest.raises(ValueError, match="prefix"):
        greedy_decode(step, prefix[:, :0], 5, EOS, PAD)


@pytest.mark.parametrize("beam_size", [1, 3])
def test_empty_batch(beam_size):
    prefix = torch.zeros(0, 2, dtype=torch.long)
    assert beam_decode(table_step(random_table(0)), prefix, beam_size, 6, EOS, PAD).shape == (0, 2)
