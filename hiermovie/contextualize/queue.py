"""The FIFO queue of distractors p_1..p_K of Eq. 1 (a small module, like lightly's MemoryBankModule).

The queue owns three persistent buffers, so a resumed run continues with the same distractors:
`keys` (K, H), initialised with L2-normalised Gaussian noise as in MoCo; `video` (K,), the video id of
each key, -1 for a slot never written (the loss excludes those and same-video keys); and `pointer`, the
slot the next key goes to. `enqueue` changes nothing outside training, so evaluation never alters it.

Scoring: dense exact scoring (`q @ keys.T`, then `topk`) is the default wherever it is faster, and on
the queue sizes we use (K = 65536 x H = 1024 is 256 MB in fp32, one matmul per step) it always is. FAISS
(`IndexFlatIP`, exact inner product) serves hard-negative mining (`hard_negatives`). Its index follows
the queue: the queue counts its writes (`enqueue`, `load_state_dict`) and a search rebuilds the index
whenever the queue changed since the last build, so the slots found always hold the keys that were
scored. An index rebuilt only every few steps would not do: the queue turns over every ~13 (tiny) to
~51 (paper) steps, so late in a refresh period most slots found on a stale index hold unrelated keys.
In training the queue changes every step, so every step with hard negatives pays one build: copying the
keys to the CPU plus `IndexFlatIP.add`, 0.4 ms for the tiny 4096 x 128 and ~150 ms for the paper's
65536 x 1024 (`bench/bench_queue_faiss.py` on 2 CPU threads, where the search itself takes ~1.3 s for
512 queries, twice the dense matmul).

DDP: the queue is a buffer of every rank. The caller all-gathers the targets and their video ids from
every rank before `enqueue`, so all ranks hold the same queue (as MoCo's `concat_all_gather`).
"""

import torch
from torch import Tensor

from hiermovie.ring_buffer import RingBuffer


class NegativeQueue(RingBuffer):
    """Ring buffer of the last `size` L2-normalised keys and the video each came from.

    Args:
        size: number of keys K kept (paper: 65536).
        dim: key dimension H (TxE's hidden width).
    """

    video: Tensor

    def __init__(self, size: int, dim: int) -> None:
        super().__init__(size, dim)
        self.register_buffer("video", torch.full((size,), -1, dtype=torch.long), persistent=True)  # (K,) -1 empty
        self._writes = 0  # changes of the queue so far: enqueues and loads of a state dict
        self._index = None  # FAISS IndexFlatIP over the filled slots, as they were after `_index_writes` writes
        self._index_writes = -1
        self._index_slots = torch.zeros(0, dtype=torch.long)  # (F,) queue slot of each index row
        self._index_video = torch.zeros(0, dtype=torch.long)  # (F,) video id of each index row

    @torch.no_grad()
    def enqueue(self, keys: Tensor, video: Tensor) -> None:
        """Write `keys` and their video ids at the pointer, overwriting the oldest; only while training.

        Shape:
            keys: (n, H); video: (n,) long, any n.
        """
        if not self.training:
            return
        if video.shape != keys.shape[:1]:
            raise ValueError(f"video must be ({keys.shape[0]},), got {tuple(video.shape)}")
        slots = self.write(keys)  # (m,)
        self.video.index_copy_(0, slots, video[-self.size :].to(self.video))
        self._writes += 1  # the FAISS index (if any) is stale now

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._writes += 1  # new keys (a resumed run): the FAISS index (if any) is stale now

    def forward(self) -> tuple[Tensor, Tensor]:
        """The queued keys and video ids, as copies.

        Copies, so that enqueueing after computing the logits but before `backward` does not modify a
        tensor autograd saved.

        Shape:
            (K, H) and (K,).
        """
        return self.keys.clone(), self.video.clone()

    @torch.no_grad()
    def _build_index(self) -> None:
        # FAISS IndexFlatIP over the filled slots' current keys; called by the search when the queue changed
        import faiss  # imported here: only hard-negative mining needs it (faiss-cpu or faiss-gpu)

        slots = (self.video >= 0).nonzero().squeeze(1).cpu()  # (F,) filled slots
        index = faiss.IndexFlatIP(self.dim)
        index.add(self.keys[slots.to(self.keys.device)].float().cpu().contiguous().numpy())  # (F, H)
        self._index, self._index_slots, self._index_video = index, slots, self.video.cpu()[slots]
        self._index_writes = self._writes

    @torch.no_grad()
    def hard_negatives(
        self, queries: Tensor, k: int, use_faiss: bool = True, query_video: Tensor | None = None
    ) -> Tensor:
        """Queue slots of the k keys most similar (inner product) to each query, most similar first.

        Empty slots are never returned, nor, if `query_video` is given, keys of the query's own video.
        Where fewer than k such keys exist for some query, every row gets that smaller number k'.
        With `use_faiss` the search runs over a FAISS index of the current keys (rebuilt first if the
        queue changed since the last build); without, a dense matmul + topk. Both give the same slots
        (up to near-ties).

        Shape:
            queries: (M, H); query_video: (M,); returns (M, k') long, k' = min(k, available).
        """
        if queries.dim() != 2 or queries.shape[1] != self.dim:
            raise ValueError(f"queries must be (M, {self.dim}), got {tuple(queries.shape)}")
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        if query_video is not None and query_video.shape != queries.shape[:1]:
            raise ValueError(f"query_video must be ({queries.shape[0]},), got {tuple(query_video.shape)}")
        if use_faiss:
            return self._hard_faiss(queries, k, query_video)
        return self._hard_dense(queries, k, query_video)

    def _hard_dense(self, queries: Tensor, k: int, query_video: Tensor | None) -> Tensor:
        excluded = (self.video < 0).expand(queries.shape[0], -1)  # (M, K) empty slots
        if query_video is not None:
            excluded = excluded | (query_video.to(self.video.device).unsqueeze(1) == self.video)  # (M, K)
        available = int((~excluded).sum(dim=1).min()) if queries.shape[0] else 0
        scores = queries.to(self.keys) @ self.keys.T  # (M, K)
        scores = scores.masked_fill(excluded, float("-inf"))  # (M, K)
        return scores.topk(min(k, available), dim=1).indices.to(queries.device)  # (M, k')

    def _hard_faiss(self, queries: Tensor, k: int, query_video: Tensor | None) -> Tensor:
        if self._index_writes != self._writes:  # the queue changed since the last build (or none yet)
            self._build_index()
        slots, video = self._index_slots, self._index_video  # (F,), (F,)
        same = torch.zeros(queries.shape[0], len(slots), dtype=torch.bool)  # (M, F)
        if query_video is not None:
            same = query_video.cpu().unsqueeze(1) == video  # (M, F)
        most_same = int(same.sum(dim=1).max()) if queries.shape[0] else 0
        take = max(0, min(k, len(slots) - most_same))  # k': every row has at least this many candidates
        if take == 0:
            return torch.zeros(queries.shape[0], 0, dtype=torch.long, device=queries.device)
        search = take + most_same  # enough that every row keeps `take` after dropping its own video
        _, rows = self._index.search(queries.detach().float().cpu().contiguous().numpy(), search)  # (M, S)
        rows = torch.from_numpy(rows).long()  # (M, S) index rows, best first
        drop = same.gather(1, rows)  # (M, S) own-video candidates
        keep = torch.sort(drop.to(torch.uint8), dim=1, stable=True).indices[:, :take]  # (M, k') first kept ones
        return slots[rows.gather(1, keep)].to(queries.device)  # (M, k') queue slots
