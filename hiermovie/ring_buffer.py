"""The write rule shared by the queues of negatives of both stages (MoDist's key queues in stage 1,
the mask-prediction distractors in stage 2): a fixed buffer written in place, FIFO, wrapping around."""

import torch


def ring_slots(pointer: torch.Tensor, count: int, size: int) -> torch.Tensor:
    """Rows of a `size`-row ring buffer that a batch of `count` new entries goes to, written at `pointer`.

    Only the last min(count, size) entries are kept, at the rows they would reach if written one by
    one, so the FIFO order is the same either way; no device sync. Shape: () -> (min(count, size),) int64.
    """
    kept = min(count, size)
    start = pointer + (count - kept)  # () row of the first kept entry
    return (start + torch.arange(kept, device=pointer.device)) % size
