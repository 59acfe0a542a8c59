"""The queue of distractors at two sizes: ring-buffer enqueue, dense torch top-k and FAISS IndexFlatIP, side by side.

    python bench/bench_queue_faiss.py [--sizes 65536 1000000] [--dim 128] [--batch 512] [--k 10]

For each queue size K (random L2-normalised float32 keys of width dim) and one batch of queries:
  (a) enqueue: write `batch` keys into a preallocated torch ring buffer at a moving pointer (wrapping
      when K is not a multiple of the batch); the buffer's storage must never move or grow,
  (b) dense: exact top-k by torch matmul + topk, in blocks of keys so the scores stay small,
  (c) FAISS: IndexFlatIP build (add all K keys) and search top-k.
Both searches are exact; their top-1 must agree (a mismatch is allowed only at a near-tie).
Each timing is the median of a few repeats. Report the dense/FAISS ratio: machines are noisy.
"""

import argparse
import time

import faiss
import torch
import torch.nn.functional as F
from timing import timed

KEY_BLOCK = 1 << 17  # keys per dense score block: batch x 131072 float32 = 256 MiB at batch 512
TIE = 1e-5  # top-1 scores closer than this are a near-tie: either search may pick either key


class RingBuffer:
    """A (K, dim) preallocated key buffer; enqueue overwrites the oldest keys, wrapping at the end."""

    def __init__(self, size: int, dim: int):
        self.keys = torch.zeros(size, dim)  # (K, dim)
        self.ptr = 0

    def enqueue(self, batch: torch.Tensor) -> None:
        size, count = len(self.keys), len(batch)
        head = min(count, size - self.ptr)  # rows before the end of the buffer
        self.keys[self.ptr : self.ptr + head] = batch[:head]
        self.keys[: count - head] = batch[head:]  # the wrapped rest (often none)
        self.ptr = (self.ptr + count) % size


def dense_topk(queries: torch.Tensor, keys: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k inner products: top-k of each key block, then top-k of those. (B, dim), (K, dim) -> (B, k) x 2."""
    scores, rows = [], []
    for lo in range(0, len(keys), KEY_BLOCK):
        block = queries @ keys[lo : lo + KEY_BLOCK].T  # (B, block)
        top = block.topk(min(k, block.shape[1]), dim=1)  # (B, k)
        scores.append(top.values)
        rows.append(top.indices + lo)
    scores, rows = torch.cat(scores, 1), torch.cat(rows, 1)  # (B, k * blocks)
    top = scores.topk(k, dim=1)  # (B, k)
    return top.values, rows.gather(1, top.indices)


def bench_size(size: int, dim: int, batch: int, k: int) -> dict:
    generator = torch.Generator().manual_seed(size)
    queue = RingBuffer(size, dim)
    storage, pointer = queue.keys.untyped_storage().nbytes(), queue.keys.data_ptr()
    fill = F.normalize(torch.randn(batch, dim, generator=generator), dim=1)  # (B, dim)
    enqueues = max(50, -(-size // batch))  # enough to wrap round the whole buffer at least once
    start = time.perf_counter()
    for _ in range(enqueues):
        queue.enqueue(fill)
    enqueue_s = (time.perf_counter() - start) / enqueues
    moved = queue.keys.data_ptr() != pointer or queue.keys.untyped_storage().nbytes() != storage
    queue.keys.copy_(F.normalize(torch.randn(size, dim, generator=generator), dim=1))  # distinct keys to search
    queries = F.normalize(torch.randn(batch, dim, generator=generator), dim=1)  # (B, dim)

    repeats = 3 if size <= 1 << 17 else 2
    dense_s, (dense_scores, dense_rows) = timed(lambda: dense_topk(queries, queue.keys, k), repeats)

    keys_np, queries_np = queue.keys.numpy(), queries.numpy()

    def build():
        index = faiss.IndexFlatIP(dim)
        index.add(keys_np)
        return index

    build_s, index = timed(build, repeats)
    search_s, (faiss_scores, faiss_rows) = timed(lambda: index.search(queries_np, k), repeats)

    differ = (dense_rows[:, 0].numpy() != faiss_rows[:, 0]).nonzero()[0]
    gaps = (dense_scores[differ, 0] - dense_scores[differ, 1]).abs().numpy()  # top-1 vs top-2 where they differ
    return {
        "K": size,
        "enqueue_ms": 1e3 * enqueue_s,
        "moved": moved,
        "dense_ms": 1e3 * dense_s,
        "build_ms": 1e3 * build_s,
        "search_ms": 1e3 * search_s,
        "agree": batch - len(differ),
        "real_mismatch": int((gaps > TIE).sum()),
        "batch": batch,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[65536, 1_000_000], help="Queue sizes K.")
    parser.add_argument("--dim", type=int, default=128, help="Key width.")
    parser.add_argument("--batch", type=int, default=512, help="Keys per enqueue and queries per search.")
    parser.add_argument("--k", type=int, default=10, help="Neighbours per query.")
    args = parser.parse_args()
    print(
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), faiss {faiss.__version__} "
        f"({faiss.omp_get_max_threads()} OMP threads); dim {args.dim}, batch {args.batch}, top-{args.k}"
    )
    header = "        K | enqueue ms | realloc | dense ms | faiss add ms | faiss search ms | dense/faiss | top-1 agree"
    print(header)
    print("-" * len(header))
    failed = False
    for size in args.sizes:
        r = bench_size(size, args.dim, args.batch, args.k)
        failed |= r["moved"] or r["real_mismatch"] > 0
        print(
            f"{r['K']:>9,} | {r['enqueue_ms']:>10.3f} | {'YES' if r['moved'] else 'no':>7} | {r['dense_ms']:>8.1f} | "
            f"{r['build_ms']:>12.1f} | {r['search_ms']:>15.1f} | {r['dense_ms'] / r['search_ms']:>11.2f} | "
            f"{r['agree']}/{r['batch']}" + (f" ({r['real_mismatch']} beyond a near-tie)" if r["real_mismatch"] else "")
        )
    print(
        "dense/faiss: dense top-k time over FAISS search time (FAISS add not included; it is paid per rebuild,"
        " i.e. once per training step with hard negatives: the index follows the queue, contextualize/queue.py)"
    )
    if failed:
        raise SystemExit("FAILED: the buffer moved or the two searches disagree beyond a near-tie")


if __name__ == "__main__":
    main()
