"""A fixed-size FIFO queue of negative keys (MoCo's queue, as a small module like lightly's MemoryBankModule).

The queue owns two buffers and nothing else: `keys` (K, D), initialised with L2-normalised Gaussian noise as
in MoCo, and `pointer`, the row the next key goes to. Both are persistent, so a resumed run continues with
the same negatives. Enqueue only while training: the caller skips `enqueue` in eval, so evaluation never
changes the negatives (lightly's `update=out.requires_grad`).
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hiermovie.ring_buffer import ring_slots


class KeyQueue(nn.Module):
    """Ring buffer of the last `size` L2-normalised keys.

    Args:
        size: number of keys K kept (MoCo/MaCLR: 65536).
        dim: key dimension D.
    """

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
    def enqueue(self, keys: Tensor) -> None:
        """Write `keys` at the pointer, wrapping around and overwriting the oldest keys.

        The keys are stored as given (the caller's projector L2-normalises them). Writing a batch of n is
        O(n), in place, and never synchronises with the device. If n > K only the last K keys are kept, at
        the rows they would reach if written one by one, so the FIFO order is the same either way.

        Shape:
            keys: (n, D), any n (need not divide K).
        """
        if keys.dim() != 2 or keys.shape[1] != self.dim:
            raise ValueError(f"keys must be (n, {self.dim}), got {tuple(keys.shape)}")
        count = keys.shape[0]
        if count == 0:
            return
        kept = keys[-self.size :].detach().to(self.keys.dtype)  # (m, D), m = min(n, K)
        self.keys.index_copy_(0, ring_slots(self.pointer, count, self.size), kept)
        self.pointer.copy_((self.pointer + count) % self.size)

    def forward(self) -> Tensor:
        """The queued keys, as a detached copy.

        A copy (as MoCo's `queue.clone().detach()` and lightly's bank) so that enqueueing after computing
        the logits but before `backward` does not modify a tensor autograd saved.

        Shape:
            (K, D).
        """
        return self.keys.clone()

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.dim}"
