"""The ring buffer under both queues of negatives (MoDist's key queues in stage 1, the mask-prediction
distractors in stage 2): a fixed buffer of L2-normalised keys written in place, FIFO, wrapping around.
It lives outside both stages because stage 2 may not import stage 1."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def ring_slots(pointer: Tensor, count: int, size: int) -> Tensor:
    """Rows of a `size`-row ring buffer that a batch of `count` new entries goes to, written at `pointer`.

    Only the last min(count, size) entries are kept, at the rows they would reach if written one by
    one, so the FIFO order is the same either way; no device sync. Shape: () -> (min(count, size),) int64.
    """
    kept = min(count, size)
    start = pointer + (count - kept)  # () row of the first kept entry
    return (start + torch.arange(kept, device=pointer.device)) % size


class RingBuffer(nn.Module):
    """`size` keys of width `dim` (initialised with L2-normalised Gaussian noise, as in MoCo) and the
    pointer to the next row; both persistent, so a resumed run continues with the same keys."""

    keys: Tensor
    pointer: Tensor

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        if size <= 0 or dim <= 0:
            raise ValueError(f"size and dim must be positive, got size={size}, dim={dim}")
        self.size, self.dim = size, dim
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1), persistent=True)  # (K, D)
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long), persistent=True)  # () next row

    @torch.no_grad()
    def write(self, keys: Tensor) -> Tensor:
        """Write `keys` at the pointer, overwriting the oldest; the rows written (empty for no keys).

        Keys are stored as given (callers L2-normalise them). A batch of n is written in O(n), in place
        (the buffer is never reallocated), without a device sync. Shape: keys (n, D) -> (min(n, K),).
        """
        if keys.dim() != 2 or keys.shape[1] != self.dim:
            raise ValueError(f"keys must be (n, {self.dim}), got {tuple(keys.shape)}")
        count = keys.shape[0]
        rows = ring_slots(self.pointer, count, self.size)  # (m,), m = min(n, K)
        self.keys.index_copy_(0, rows, keys[-self.size :].detach().to(self.keys.dtype))
        self.pointer.copy_((self.pointer + count) % self.size)
        return rows

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.dim}"
