"""A fixed-size FIFO queue of negative keys (MoCo's queue, as a small module like lightly's MemoryBankModule).

The queue owns two buffers and nothing else: `keys` (K, D), initialised with L2-normalised Gaussian noise as
in MoCo, and `pointer`, the row the next key goes to. Both are persistent, so a resumed run continues with
the same negatives. Enqueue only while training: the caller skips `enqueue` in eval, so evaluation never
changes the negatives (lightly's `update=out.requires_grad`).
"""

from torch import Tensor

from hiermovie.ring_buffer import RingBuffer


class KeyQueue(RingBuffer):
    """Ring buffer of the last `size` L2-normalised keys (K: MoCo/MaCLR 65536, width D)."""

    def enqueue(self, keys: Tensor) -> None:
        """Write `keys` (n, D), any n, at the pointer, overwriting the oldest keys (FIFO)."""
        self.write(keys)

    def forward(self) -> Tensor:
        """The queued keys, as a detached copy.

        A copy (as MoCo's `queue.clone().detach()` and lightly's bank) so that enqueueing after computing
        the logits but before `backward` does not modify a tensor autograd saved.

        Shape:
            (K, D).
        """
        return self.keys.clone()
