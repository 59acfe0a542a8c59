"""KeyQueue: FIFO ring-buffer semantics, in-place writes, checkpointing."""

import pytest
import torch
import torch.nn.functional as F

from hiermovie.extract.key_queue import KeyQueue
from hiermovie.extract.losses import moco_nce_loss


def _keys(start: int, count: int, dim: int = 3) -> torch.Tensor:
    """Rows whose first entry is their running index, so the queue order can be read back."""
    keys = torch.zeros(count, dim)
    keys[:, 0] = torch.arange(start, start + count, dtype=torch.float32)
    return keys


def test_init_is_normalised_and_checkpointed():
    queue = KeyQueue(size=16, dim=8)
    assert queue().shape == (16, 8)
    torch.testing.assert_close(queue.keys.norm(dim=1), torch.ones(16))
    state = queue.state_dict()
    assert set(state) == {"keys", "pointer"}
    assert state["pointer"].dtype == torch.long and state["pointer"].item() == 0


def test_fifo_order_without_wrap():
    queue = KeyQueue(size=8, dim=3)
    queue.enqueue(_keys(0, 3))
    queue.enqueue(_keys(3, 2))
    assert queue.keys[:5, 0].tolist() == [0, 1, 2, 3, 4]
    assert queue.pointer.item() == 5


@pytest.mark.parametrize(
    "size, batches",
    [(8, [3, 3, 3]), (5, [2, 2, 2, 2]), (4, [4, 4]), (6, [5, 7, 1]), (4, [10]), (4, [1, 9]), (3, [0, 2])],
)
def test_ring_buffer_matches_writing_one_by_one(size, batches, reference_fifo):
    queue = KeyQueue(size=size, dim=3)
    before = queue.keys.clone()
    index = 0
    for count in batches:
        queue.enqueue(_keys(index, count))
        index += count
    slots, pointer = reference_fifo(size, batches)
    for row, expected in enumerate(slots):
        if expected is None:
            torch.testing.assert_close(queue.keys[row], before[row])  # never written: initial noise
        else:
            assert queue.keys[row, 0].item() == expected
    assert queue.pointer.item() == pointer


def test_batch_larger_than_queue_keeps_the_last_keys():
    queue = KeyQueue(size=4, dim=3)
    queue.enqueue(_keys(0, 1))
    queue.enqueue(_keys(1, 10))  # indices 1..10, only 7..10 survive
    assert sorted(queue.keys[:, 0].tolist()) == [7, 8, 9, 10]
    pointer = queue.pointer.item()
    assert pointer == 11 % 4
    oldest_first = torch.roll(queue.keys[:, 0], -pointer).tolist()  # reading from the pointer is FIFO order
    assert oldest_first == [7, 8, 9, 10]


def test_enqueue_is_in_place():
    queue = KeyQueue(size=8, dim=4)
    keys_ptr, pointer_ptr = queue.keys.data_ptr(), queue.pointer.data_ptr()
    for count in (3, 5, 7, 20):
        queue.enqueue(F.normalize(torch.randn(count, 4), dim=1))
    assert queue.keys.data_ptr() == keys_ptr
    assert queue.pointer.data_ptr() == pointer_ptr
    torch.testing.assert_close(queue.keys.norm(dim=1), torch.ones(8))


def test_enqueue_ignores_autograd_and_casts_dtype():
    queue = KeyQueue(size=4, dim=2)
    keys = torch.ones(2, 2, dtype=torch.float64, requires_grad=True)
    queue.enqueue(keys)
    assert not queue.keys.requires_grad and queue.keys.dtype == torch.float32


def test_enqueue_rejects_wrong_dim():
    with pytest.raises(ValueError, match="keys must be"):
        KeyQueue(size=4, dim=3).enqueue(torch.zeros(2, 5))


def test_state_dict_round_trip():
    queue = KeyQueue(size=6, dim=3)
    queue.enqueue(_keys(0, 4))
    restored = KeyQueue(size=6, dim=3)
    restored.load_state_dict(queue.state_dict())
    torch.testing.assert_close(restored.keys, queue.keys)
    assert restored.pointer.item() == 4


def test_enqueue_after_logits_before_backward():
    """MoCo's order: logits with the queue, enqueue the keys, then backward. The copy keeps autograd happy."""
    queue = KeyQueue(size=8, dim=4)
    q = F.normalize(torch.randn(2, 4), dim=1).requires_grad_()
    k = F.normalize(torch.randn(2, 4), dim=1)
    loss = moco_nce_loss(q, k, queue())
    queue.enqueue(k)
    loss.backward()
    assert q.grad is not None
