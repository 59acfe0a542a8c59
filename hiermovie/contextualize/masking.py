"""Which event tokens to mask (paper sec. 3.3 and Table 2), as pure functions.

Each window of N tokens masks one contiguous span [s, s + m). The size m is drawn uniformly from a set
(paper: {1, ..., floor(alpha N)}, {1, 2, 3} for alpha = 0.6 and N = 5). The start s is either uniform over
{0, ..., N - m} ("uniform", used in all the paper's experiments) or the span of largest total discrepancy
("max discrepancy", Table 2 bottom), where a token's discrepancy is how much its TxE output changes when
that token alone is masked (see `single_token_masks` and `token_discrepancy`).

Randomness comes only from the `torch.Generator` passed in (drawn on the CPU), so a seed fixes the masks
on every device.
"""

import math

import torch
from torch import Tensor


def _check_sizes(seq_len: int, sizes: tuple[int, ...]) -> None:
    if not sizes:
        raise ValueError("the set of mask sizes is empty")
    for size in sizes:
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"mask sizes must be integers >= 1, got {size!r}")
        if size >= seq_len:
            raise ValueError(f"mask size {size} leaves no context in a window of {seq_len} tokens")


def mask_size_set(seq_len: int, alpha: float, sizes: tuple[int, ...] = ()) -> tuple[int, ...]:
    """The sorted set of mask sizes: `sizes` if given, else {1, ..., floor(alpha * seq_len)}.

    Raises ValueError for an empty set, sizes < 1, sizes that mask the whole window, or alpha * N < 1.
    """
    if seq_len < 2:
        raise ValueError(f"a window needs at least 2 tokens to mask one and keep context, got {seq_len}")
    if sizes:
        sizes = tuple(sorted(set(sizes)))
    else:
        largest = math.floor(alpha * seq_len + 1e-9)  # 1e-9: 0.7 * 10 must give 7, not 6.999...
        if largest < 1:
            raise ValueError(f"alpha * N = {alpha} * {seq_len} < 1: no mask size to draw")
        sizes = tuple(range(1, largest + 1))
    _check_sizes(seq_len, sizes)
    return sizes


def _draw_sizes(batch: int, sizes: tuple[int, ...], generator: torch.Generator | None) -> Tensor:
    choice = torch.randint(len(sizes), (batch,), generator=generator)  # (B,) index into sizes
    return torch.tensor(sizes, dtype=torch.long)[choice]  # (B,) m per window


def _span_masks(starts: Tensor, lengths: Tensor, seq_len: int) -> Tensor:
    positions = torch.arange(seq_len, device=starts.device)  # (N,)
    return (positions >= starts[:, None]) & (positions < (starts + lengths)[:, None])  # (B, N)


def uniform_span_masks(
    batch: int,
    seq_len: int,
    sizes: tuple[int, ...],
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Tensor:
    """One contiguous span per window: m ~ U(sizes), start ~ U{0, ..., N - m}.

    Shape:
        (B, N) bool, True = masked.
    """
    _check_sizes(seq_len, sizes)
    lengths = _draw_sizes(batch, sizes, generator)  # (B,)
    uniform = torch.rand(batch, generator=generator, dtype=torch.float64)  # (B,) in [0, 1)
    starts = (uniform * (seq_len - lengths + 1)).floor().long()  # (B,) in {0, ..., N - m}
    return _span_masks(starts, lengths, seq_len).to(device)  # (B, N)


def max_discrepancy_masks(
    discrepancy: Tensor, sizes: tuple[int, ...], generator: torch.Generator | None = None
) -> Tensor:
    """One span per window: m ~ U(sizes), then the span of size m with the largest total discrepancy.

    Ties go to the earliest start.

    Shape:
        discrepancy: (B, N) float; returns (B, N) bool on its device, True = masked.
    """
    if discrepancy.dim() != 2:
        raise ValueError(f"discrepancy must be (B, N), got {tuple(discrepancy.shape)}")
    batch, seq_len = discrepancy.shape
    _check_sizes(seq_len, sizes)
    lengths = _draw_sizes(batch, sizes, generator).to(discrepancy.device)  # (B,)
    scores = discrepancy.detach()  # (B, N)
    starts = torch.zeros(batch, dtype=torch.long, device=discrepancy.device)  # (B,)
    for size in sizes:
        totals = scores.unfold(1, size, 1).sum(-1)  # (B, N - size + 1), one sum per candidate span
        best = totals.argmax(dim=1)  # (B,) first maximum
        starts = torch.where(lengths == size, best, starts)  # (B,)
    return _span_masks(starts, lengths, seq_len)  # (B, N)


def single_token_masks(batch: int, seq_len: int, device: torch.device | str | None = None) -> Tensor:
    """Masks that hide one token each: copy i of window b (row b * N + i) masks token i.

    Pair with `features.repeat_interleave(seq_len, dim=0)` to score every token's discrepancy in one pass.

    Shape:
        (B * N, N) bool.
    """
    return torch.eye(seq_len, dtype=torch.bool, device=device).repeat(batch, 1)  # (B * N, N)


def token_discrepancy(unmasked: Tensor, single_masked: Tensor) -> Tensor:
    """Per token, 1 - cos(v_i, v'_i) between TxE's output without masking and with token i alone masked.

    Args:
        unmasked: L2-normalised outputs of the unmasked windows.
        single_masked: L2-normalised outputs of the windows masked by `single_token_masks`.

    Shape:
        unmasked: (B, N, H); single_masked: (B * N, N, H); returns (B, N).
    """
    batch, seq_len, hidden = unmasked.shape
    if single_masked.shape != (batch * seq_len, seq_len, hidden):
        raise ValueError(
            f"single_masked must be {(batch * seq_len, seq_len, hidden)}, got {tuple(single_masked.shape)}"
        )
    own = single_masked.reshape(batch, seq_len, seq_len, hidden).diagonal(dim1=1, dim2=2)  # (B, H, N): copy i, token i
    return 1.0 - torch.einsum("bnh,bhn->bn", unmasked, own)  # (B, N)
