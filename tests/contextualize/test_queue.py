"""NegativeQueue: FIFO ring buffer with video ids, training-only updates, in-place writes, hard negatives."""

import pytest
import torch
import torch.nn.functional as F

from hiermovie.contextualize.queue import NegativeQueue


def _keys(start: int, count: int, dim: int = 3) -> torch.Tensor:
    """Rows whose first entry is their running index, so the queue order can be read back."""
    keys = torch.zeros(count, dim)
    keys[:, 0] = torch.arange(start, start + count, dtype=torch.float32)
    return keys


def _video(start: int, count: int) -> torch.Tensor:
    return torch.arange(start, start + count) + 100  # id = running index + 100


def test_init_is_normalised_empty_and_checkpointed():
    queue = NegativeQueue(size=16, dim=8)
    keys, video = queue()
    assert keys.shape == (16, 8) and video.shape == (16,) and video.dtype == torch.long
    torch.testing.assert_close(keys.norm(dim=1), torch.ones(16))
    assert (video == -1).all()
    state = queue.state_dict()
    assert set(state) == {"keys", "video", "pointer"}
    assert state["pointer"].dtype == torch.long and state["pointer"].item() == 0
    with pytest.raises(ValueError, match="positive"):
        NegativeQueue(size=0, dim=8)


def test_fifo_order_without_wrap():
    queue = NegativeQueue(size=8, dim=3)
    queue.enqueue(_keys(0, 3), _video(0, 3))
    queue.enqueue(_keys(3, 2), _video(3, 2))
    assert queue.keys[:5, 0].tolist() == [0, 1, 2, 3, 4]
    assert queue.video.tolist() == [100, 101, 102, 103, 104, -1, -1, -1]
    assert queue.pointer.item() == 5


@pytest.mark.parametrize(
    "size, batches",
    [(8, [3, 3, 3]), (5, [2, 2, 2, 2]), (4, [4, 4]), (6, [5, 7, 1]), (4, [10]), (4, [1, 9]), (3, [0, 2])],
)
def test_wrap_around_and_large_batches_match_writing_one_by_one(size, batches, reference_fifo):
    queue = NegativeQueue(size=size, dim=3)
    index = 0
    for count in batches:
        queue.enqueue(_keys(index, count), _video(index, count))
        index += count
    slots, pointer = reference_fifo(size, batches)
    assert queue.pointer.item() == pointer
    for slot, expected in enumerate(slots):
        if expected is None:
            assert queue.video[slot].item() == -1
        else:
            assert queue.keys[slot, 0].item() == expected
            assert queue.video[slot].item() == int(expected) + 100


def test_no_update_in_eval_mode():
    queue = NegativeQueue(size=4, dim=3).eval()
    before_keys, before_video = queue()
    queue.enqueue(_keys(0, 2), _video(0, 2))
    keys, video = queue()
    assert torch.equal(keys, before_keys) and torch.equal(video, before_video) and queue.pointer.item() == 0
    queue.train()
    queue.enqueue(_keys(0, 2), _video(0, 2))
    assert queue.pointer.item() == 2


def test_writes_in_place_and_forward_returns_copies():
    queue = NegativeQueue(size=4, dim=3)
    pointers = (queue.keys.data_ptr(), queue.video.data_ptr(), queue.pointer.data_ptr())
    keys, video = queue()
    queue.enqueue(_keys(0, 6), _video(0, 6))
    assert (queue.keys.data_ptr(), queue.video.data_ptr(), queue.pointer.data_ptr()) == pointers
    assert keys.data_ptr() != queue.keys.data_ptr() and (video == -1).all()  # the copy did not change


def test_enqueue_does_not_break_backward_of_earlier_logits():
    queue = NegativeQueue(size=8, dim=4)
    query = torch.randn(2, 4, requires_grad=True)
    negatives, _ = queue()
    logits = query @ negatives.T  # (2, 8)
    queue.enqueue(F.normalize(torch.randn(8, 4), dim=1), torch.arange(8))
    logits.sum().backward()  # would fail had the queue been modified in place under autograd
    assert query.grad is not None


def test_enqueue_refuses_bad_shapes():
    queue = NegativeQueue(size=4, dim=3)
    with pytest.raises(ValueError, match="keys"):
        queue.enqueue(torch.zeros(2, 5), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="video"):
        queue.enqueue(torch.zeros(2, 3), torch.zeros(3, dtype=torch.long))


def _filled_queue(size: int, filled: int, dim: int, videos: int, seed: int) -> NegativeQueue:
    g = torch.Generator().manual_seed(seed)
    queue = NegativeQueue(size=size, dim=dim)
    queue.enqueue(
        F.normalize(torch.randn(filled, dim, generator=g), dim=1), torch.randint(0, videos, (filled,), generator=g)
    )
    return queue


@pytest.mark.parametrize("size, filled", [(64, 64), (64, 40), (50, 130)])
def test_hard_negatives_faiss_equals_dense(size, filled):
    queue = _filled_queue(size, filled, dim=16, videos=1000, seed=size + filled)
    queries = F.normalize(torch.randn(7, 16, generator=torch.Generator().manual_seed(3)), dim=1)
    faiss_slots = queue.hard_negatives(queries, k=5, use_faiss=True)
    dense_slots = queue.hard_negatives(queries, k=5, use_faiss=False)
    assert faiss_slots.shape == (7, 5) and faiss_slots.dtype == torch.long
    assert torch.equal(faiss_slots, dense_slots)
    # the exact top-5 by brute force over the filled slots, best first
    scores = queries @ queue.keys.T  # (7, K)
    scores[:, queue.video < 0] = float("-inf")
    assert torch.equal(dense_slots, scores.argsort(dim=1, descending=True)[:, :5])


def test_hard_negatives_never_returns_empty_slots_or_the_query_video():
    queue = _filled_queue(32, 12, dim=8, videos=3, seed=0)  # 20 empty slots whose random keys stay in place
    queries = queue.keys[:4].clone()  # queries equal to queued keys: their own (same-video) slots score highest
    query_video = queue.video[:4].clone()
    for use_faiss in (True, False):
        slots = queue.hard_negatives(queries, k=3, use_faiss=use_faiss)
        assert slots.shape == (4, 3) and (queue.video[slots] >= 0).all()
        slots = queue.hard_negatives(queries, k=3, use_faiss=use_faiss, query_video=query_video)
        assert (queue.video[slots] >= 0).all() and (queue.video[slots] != query_video[:, None]).all()
    assert torch.equal(
        queue.hard_negatives(queries, k=3, query_video=query_video),
        queue.hard_negatives(queries, k=3, use_faiss=False, query_video=query_video),
    )


def test_hard_negatives_shrinks_k_to_what_is_available():
    queue = NegativeQueue(size=16, dim=4)
    queries = F.normalize(torch.randn(2, 4), dim=1)
    for use_faiss in (True, False):
        assert queue.hard_negatives(queries, k=3, use_faiss=use_faiss).shape == (2, 0)  # nothing queued yet
    queue.enqueue(F.normalize(torch.randn(2, 4), dim=1), torch.tensor([5, 6]))
    for use_faiss in (True, False):
        assert queue.hard_negatives(queries, k=3, use_faiss=use_faiss).shape == (2, 2)
        assert queue.hard_negatives(queries, k=3, use_faiss=use_faiss, query_video=torch.tensor([5, 7])).shape == (2, 1)


def _nearest(queue: NegativeQueue, queries: torch.Tensor, k: int, query_video: torch.Tensor) -> torch.Tensor:
    """Brute force: the k best filled slots of other videos by inner product with the current keys. (M, k)"""
    scores = queries @ queue.keys.T  # (M, K)
    scores[(queue.video < 0) | (query_video[:, None] == queue.video)] = float("-inf")
    return scores.argsort(dim=1, descending=True)[:, :k]


def test_faiss_search_follows_the_queue_through_overwrites():
    queue = _filled_queue(16, 6, dim=8, videos=4, seed=1)
    g = torch.Generator().manual_seed(2)
    queries = F.normalize(torch.randn(5, 8, generator=g), dim=1)  # (M, H)
    query_video = torch.randint(0, 4, (5,), generator=g)  # (M,)
    expected = _nearest(queue, queries, 2, query_video)  # (M, 2)
    assert torch.equal(queue.hard_negatives(queries, k=2, query_video=query_video), expected)  # builds an index
    for count, total in ((4, 10), (7, 17), (7, 24), (7, 31), (7, 38)):  # 10 filled of 16, then over two turnovers
        keys, video = F.normalize(torch.randn(count, 8, generator=g), dim=1), torch.randint(0, 4, (count,), generator=g)
        queue.enqueue(keys, video)
        assert int((queue.video >= 0).sum()) == min(total, 16)
        faiss_slots = queue.hard_negatives(queries, k=3, query_video=query_video)
        assert torch.equal(faiss_slots, queue.hard_negatives(queries, k=3, use_faiss=False, query_video=query_video))
        assert torch.equal(faiss_slots, _nearest(queue, queries, 3, query_video))
    resumed = NegativeQueue(16, 8)
    resumed.hard_negatives(queries, k=3)  # an index over the fresh queue
    resumed.load_state_dict(queue.state_dict())  # as a resumed run: the search follows the loaded keys
    expected = _nearest(queue, queries, 3, query_video)  # (M, 3)
    assert torch.equal(resumed.hard_negatives(queries, k=3, query_video=query_video), expected)
