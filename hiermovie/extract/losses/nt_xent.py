"""CVRL/SimCLR NT-Xent loss with cross-replica negatives, as a pure function.

For the local row i of a global batch of N clips (two views a and b each):

    l_i^a = -log  exp(a_i . b_i / T) / ( sum_j exp(a_i . b_j / T) + sum_{j != i} exp(a_i . a_j / T) )

and l_i^b likewise with a and b swapped. This is CVRL's `losses.py::contrastive_loss` (logits_ab and
logits_aa with the self-similarity masked out, negatives gathered from every replica). CVRL sums the two
directions; we average them, which only halves the scale (notes `lvu_and_backbone.md` section C).

The gather must be autograd-aware (`hiermovie.distributed.gather_rows` is): each row's gradient from every
rank's queries returns to the rank that owns the row, so DDP's mean over ranks is the gradient of this loss on
the global batch, as with CVRL's cross-replica concat. Similarities and cross-entropy run in fp32 (at least)
whatever the autocast state; gradients flow back to inputs of any float dtype.
"""

import torch
import torch.nn.functional as F
from torch import Tensor


def nt_xent_loss(
    z_a: Tensor,
    z_b: Tensor,
    temperature: float = 0.1,
    all_a: Tensor | None = None,
    all_b: Tensor | None = None,
    offset: int = 0,
) -> Tensor:
    """Symmetric NT-Xent over the local rows, with negatives from the whole (gathered) batch.

    Args:
        z_a: L2-normalised projections of view a of the local batch.
        z_b: L2-normalised projections of view b of the local batch.
        temperature: softmax temperature T (CVRL uses 0.1).
        all_a: view a of the global batch gathered across DDP ranks, or None for the local `z_a`.
        all_b: view b of the global batch, or None for the local `z_b`. Used exactly as given: gradients
            reach other ranks' rows only if the gather carries them (`gather_rows` does).
        offset: first row of the local batch inside `all_a`/`all_b` (rank * B).

    Returns:
        Scalar loss: mean over the local rows of (l^a + l^b) / 2.

    Shape:
        z_a, z_b: (B, D); all_a, all_b: (N, D) with N >= offset + B.
    """
    if (all_a is None) != (all_b is None):
        raise ValueError("pass both all_a and all_b, or neither")
    if all_a is None or all_b is None:
        all_a, all_b = z_a, z_b
    if z_a.shape != z_b.shape or z_a.dim() != 2:
        raise ValueError(f"z_a and z_b must both be (B, D), got {tuple(z_a.shape)} and {tuple(z_b.shape)}")
    if all_a.shape != all_b.shape or all_a.shape[1:] != z_a.shape[1:]:
        raise ValueError(
            f"all_a and all_b must both be (N, {z_a.shape[1]}), got {tuple(all_a.shape)}, {tuple(all_b.shape)}"
        )
    batch, total = z_a.shape[0], all_a.shape[0]
    if not 0 <= offset <= total - batch:
        raise ValueError(f"offset {offset} puts the local batch of {batch} outside the global batch of {total}")

    labels = torch.arange(batch, device=z_a.device) + offset  # (B,) global row of each positive
    self_mask = F.one_hot(labels, total).bool()  # (B, N) a_i . a_i, never a negative

    def one_direction(query: Tensor, keys_other: Tensor, keys_same: Tensor) -> Tensor:
        logits_ab = query @ keys_other.T / temperature  # (B, N) positive at column offset + i
        logits_aa = query @ keys_same.T / temperature  # (B, N)
        logits_aa = logits_aa.masked_fill(self_mask, float("-inf"))  # (B, N)
        logits = torch.cat([logits_ab, logits_aa], dim=1)  # (B, 2N)
        return F.cross_entropy(logits, labels)

    with torch.autocast(z_a.device.type, enabled=False):  # fp32 logits: bf16 ones are off by ~0.03 at T = 0.1
        z_a, z_b, all_a, all_b = (t.to(torch.promote_types(t.dtype, torch.float32)) for t in (z_a, z_b, all_a, all_b))
        return 0.5 * (one_direction(z_a, all_b, all_a) + one_direction(z_b, all_a, all_b))
