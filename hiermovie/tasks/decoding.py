"""Autoregressive decoding (greedy and beam search), independent of the model.

The model is seen through a `step` function: given the unfinished sequences so far and, for each, the batch
row it belongs to (so the caller can pick that row's visual memory, `memory[rows]`), it returns the logits of
the next token. Finished sequences are never passed to `step`. Outputs hold the prefix, the generated tokens
up to and including each row's first eos, and pad after it; their length is the prefix length plus the longest
generated part, at most `max_len`.
"""

from collections.abc import Callable

import torch
from torch import Tensor

Step = Callable[[Tensor, Tensor], Tensor]  # (tokens (B', T) long, rows (B',) long) -> logits (B', V)


def _check(prefix: Tensor, max_len: int) -> None:
    if prefix.dim() != 2 or prefix.size(1) == 0 or prefix.dtype != torch.long:
        raise ValueError(f"prefix must be a (B, P) long tensor with P >= 1, got {tuple(prefix.shape)} {prefix.dtype}")
    if max_len <= prefix.size(1):
        raise ValueError(f"max_len ({max_len}) must exceed the prefix length ({prefix.size(1)})")


def greedy_decode(step: Step, prefix: Tensor, max_len: int, eos_id: int, pad_id: int) -> Tensor:
    """Extend each row of `prefix` (B, P) with its most likely next token until eos or `max_len` tokens.

    Returns (B, L), L <= max_len, the prefix included; each row stops at its first eos (kept), positions after
    it are `pad_id`; decoding stops early when all rows ended. A prefix that holds eos has already ended.
    """
    _check(prefix, max_len)
    tokens = prefix  # (B, T)
    ended = (prefix == eos_id).any(dim=1)  # (B,)
    for _ in range(max_len - prefix.size(1)):
        if ended.all():
            break
        live = (~ended).nonzero().squeeze(1)  # (B',)
        next_tokens = torch.full_like(ended, pad_id, dtype=torch.long)  # (B,)
        next_tokens[live] = step(tokens[live], live).argmax(dim=-1)
        tokens = torch.cat([tokens, next_tokens[:, None]], dim=1)  # (B, T + 1)
        ended |= next_tokens == eos_id  # (B,)
    return tokens


def beam_decode(
    step: Step,
    prefix: Tensor,
    beam_size: int,
    max_len: int,
    eos_id: int,
    pad_id: int,
    length_penalty: float = 1.0,
) -> Tensor:
    """Beam search over log-softmax scores; returns the best hypothesis per row, laid out as `greedy_decode`.

    A hypothesis is scored by its summed log-probability / (generated length ** length_penalty), the generated
    length counting the eos (fairseq's convention); unfinished hypotheses at `max_len` are scored as they are.
    Each row keeps the `beam_size` best-scored hypotheses, finished ones included (they extend only with pad at
    no cost), and ends when all of them have finished. `beam_size == 1` is greedy search.
    """
    _check(prefix, max_len)
    if beam_size < 1:
        raise ValueError(f"beam_size must be at least 1, got {beam_size}")
    if beam_size == 1:  # the same search; delegating also makes ties break exactly as in greedy_decode
        return greedy_decode(step, prefix, max_len, eos_id, pad_id)
    batch, k = prefix.size(0), beam_size
    tokens = prefix.repeat_interleave(k, dim=0)  # (B * K, T)
    ended = (prefix == eos_id).any(dim=1).repeat_interleave(k)  # (B * K,)
    score = torch.full((batch, k), -torch.inf, device=prefix.device)  # (B, K) summed log-probabilities
    score[:, 0] = 0.0  # one live hypothesis per row at the start, so the first step picks K distinct tokens
    score = score.view(-1)  # (B * K,)
    length = torch.zeros_like(ended, dtype=torch.long)  # (B * K,) generated tokens, eos included
    for _ in range(max_len - prefix.size(1)):
        live = (~ended & (score > -torch.inf)).nonzero().squeeze(1)  # (N,)
        if live.numel() == 0:
            break
        logprobs = step(tokens[live], live // k).float().log_softmax(dim=-1)  # (N, V)
        vocab = logprobs.size(1)
        cand = score.new_full((batch * k, vocab), -torch.inf)  # (B * K, V) score of each extension
        cand[live] = score[live, None] + logprobs
        cand[ended, pad_id] = score[ended]  # an ended hypothesis continues only with pad, at no cost
        cand_length = length + (~ended).long()  # (B * K,)
        normalized = cand / cand_length.clamp(min=1).float().pow(length_penalty)[:, None]  # (B * K, V)
        best = normalized.view(batch, k * vocab).topk(k, dim=1).indices  # (B, K) into the K * V candidates
        source = (torch.arange(batch, device=prefix.device)[:, None] * k + best // vocab).view(-1)  # (B * K,)
        next_tokens = torch.where(ended[source], pad_id, (best % vocab).view(-1))  # (B * K,)
        score = cand.view(batch, k * vocab).gather(1, best).view(-1)  # (B * K,)
        length = cand_length[source]  # (B * K,)
        tokens = torch.cat([tokens[source], next_tokens[:, None]], dim=1)  # (B * K, T + 1)
        ended = ended[source] | (next_tokens == eos_id)  # (B * K,)
    final = (score / length.clamp(min=1).float().pow(length_penalty)).view(batch, k)  # (B, K)
    chosen = torch.arange(batch, device=prefix.device) * k + final.argmax(dim=1)  # (B,)
    width = prefix.size(1) + int(length[chosen].max()) if batch else prefix.size(1)
    return tokens[chosen, :width]  # (B, L)
