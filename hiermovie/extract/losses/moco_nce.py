"""MoCo InfoNCE against a queue of negative keys, as a pure function (He et al., CVPR 2020, Algorithm 1).

    l_i = -log  exp(q_i . k_i / T) / ( exp(q_i . k_i / T) + sum_j exp(q_i . n_j / T) )

with n_j the K keys of the queue. Written as a cross-entropy whose positive sits at column 0, computed in fp32
(at least) whatever the autocast state; gradients flow back to inputs of any float dtype.
"""

import torch
import torch.nn.functional as F
from torch import Tensor


def moco_nce_loss(query: Tensor, key: Tensor, queue: Tensor, temperature: float = 0.1) -> Tensor:
    """InfoNCE of each query against its own key (positive) and the queue (negatives).

    Args:
        query: L2-normalised queries from the online encoder.
        key: L2-normalised positive keys, row i for query i. Normally from the momentum encoder under
            no_grad; not detached here, so a caller that wants gradients through the keys gets them.
        queue: L2-normalised negative keys (e.g. `KeyQueue()`).
        temperature: softmax temperature T (MoDist uses 0.1).

    Returns:
        Scalar loss, mean over the B queries.

    Shape:
        query, key: (B, D); queue: (K, D).
    """
    if query.shape != key.shape or query.dim() != 2:
        raise ValueError(f"query and key must both be (B, D), got {tuple(query.shape)} and {tuple(key.shape)}")
    if queue.dim() != 2 or queue.shape[1] != query.shape[1]:
        raise ValueError(f"queue must be (K, {query.shape[1]}), got {tuple(queue.shape)}")
    labels = torch.zeros(query.shape[0], dtype=torch.long, device=query.device)  # (B,) positive at 0
    with torch.autocast(query.device.type, enabled=False):  # fp32 logits: bf16 ones are off by ~0.03 at T = 0.1
        query, key, queue = (t.to(torch.promote_types(t.dtype, torch.float32)) for t in (query, key, queue))
        positive = torch.einsum("nd,nd->n", query, key).unsqueeze(-1)  # (B, 1)
        negative = torch.einsum("nd,kd->nk", query, queue)  # (B, K)
        logits = torch.cat([positive, negative], dim=1) / temperature  # (B, 1 + K)
        return F.cross_entropy(logits, labels)
