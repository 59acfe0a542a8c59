"""Event mask prediction loss, Eq. 1 of the paper, as a pure function.

    L_mp = -log  exp(o . t / tau) / ( exp(o . t / tau) + sum_i exp(o . p_i / tau) )

with o the TxE output at a masked position, t its target (the projected input token under stop-gradient)
and p_1..p_K the distractors of the FIFO queue. Written as a cross-entropy whose positive sits at column 0.
Distractors from the query's own video (near-duplicate neighbouring events) and empty queue slots (video
id < 0) can be excluded: their logits become -inf, so they drop out of the sum. Computed in fp32 (at least)
whatever the autocast state, as stage 1's losses (`hiermovie/extract/losses/moco_nce.py`): bf16 logits are
off by ~0.03 at tau = 0.1, which moved the loss of the tests by 2-4e-3; gradients flow back to inputs of any
float dtype.
"""

import torch
import torch.nn.functional as F
from torch import Tensor


def mask_nce_loss(
    outputs: Tensor,
    targets: Tensor,
    negatives: Tensor,
    temperature: float = 0.1,
    query_video: Tensor | None = None,
    negative_video: Tensor | None = None,
) -> Tensor:
    """InfoNCE of each masked output against its target (positive) and the queue (distractors).

    Args:
        outputs: L2-normalised TxE outputs at the masked positions.
        targets: L2-normalised targets, row i for output i; the caller detaches them (stop-gradient).
        negatives: L2-normalised distractors, shared by all rows (K, H) or one set per row (M, K, H), as
            from `NegativeQueue.hard_negatives`.
        temperature: tau of Eq. 1 (paper: 0.1).
        query_video: video id of each output; with `negative_video`, same-video distractors are excluded.
        negative_video: video id of each distractor; ids < 0 mark empty queue slots, always excluded.

    Returns:
        Scalar loss, mean over the M masked positions.

    Shape:
        outputs, targets: (M, H); negatives: (K, H) or (M, K, H); query_video: (M,);
        negative_video: (K,) or (M, K), as negatives.
    """
    if outputs.dim() != 2 or outputs.shape != targets.shape or outputs.shape[0] == 0:
        raise ValueError(
            f"outputs and targets must both be (M, H), M > 0; got {tuple(outputs.shape)}, {tuple(targets.shape)}"
        )
    count, hidden = outputs.shape
    if (
        negatives.shape[-1] != hidden
        or negatives.dim() not in (2, 3)
        or (negatives.dim() == 3 and negatives.shape[0] != count)
    ):
        raise ValueError(f"negatives must be (K, {hidden}) or ({count}, K, {hidden}), got {tuple(negatives.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    if negative_video is not None and negative_video.shape != negatives.shape[:-1]:
        raise ValueError(f"negative_video must be {tuple(negatives.shape[:-1])}, got {tuple(negative_video.shape)}")
    if query_video is not None and negative_video is None:
        raise ValueError("query_video needs negative_video (the video of each distractor)")
    if query_video is not None and query_video.shape != (count,):
        raise ValueError(f"query_video must be ({count},), got {tuple(query_video.shape)}")
    labels = torch.zeros(count, dtype=torch.long, device=outputs.device)  # (M,) positive at column 0
    with torch.autocast(outputs.device.type, enabled=False):  # fp32 logits: bf16 ones are off by ~0.03 at tau 0.1
        outputs, targets, negatives = (
            t.to(torch.promote_types(t.dtype, torch.float32)) for t in (outputs, targets, negatives)
        )
        positive = torch.einsum("mh,mh->m", outputs, targets).unsqueeze(1)  # (M, 1)
        if negatives.dim() == 2:
            negative = torch.einsum("mh,kh->mk", outputs, negatives)  # (M, K)
        else:
            negative = torch.einsum("mh,mkh->mk", outputs, negatives)  # (M, K)
        if negative_video is not None:
            excluded = (negative_video < 0).expand_as(negative)  # (M, K) empty slots
            if query_video is not None:
                excluded = excluded | (query_video.unsqueeze(1) == negative_video)  # (M, K) or same video
            negative = negative.masked_fill(excluded, float("-inf"))  # (M, K)
        logits = torch.cat([positive, negative], dim=1) / temperature  # (M, 1 + K)
        return F.cross_entropy(logits, labels)
