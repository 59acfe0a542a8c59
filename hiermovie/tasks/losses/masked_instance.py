"""Masked-instance loss of the Object Transformer pretraining (`hiermovie.tasks.object_transformer`).

    L = mean over masked instances of || p / |p| - t / |t| ||^2  =  2 - 2 cos(p, t)

where p is the prediction head's output at a masked instance and t that instance's own input feature.

Deviation from LVU (Wu & Krähenbühl, CVPR 2021): LVU distils the masked instances to the logits of a frozen
AVA action classifier (`soft_label_loss_*` in `src/models/modeling_roberta.py`). We have no such classifier
over our cached features, so the target is the masked instance's own input feature, compared by cosine.
"""

import torch.nn.functional as F
from torch import Tensor


def masked_instance_loss(predicted: Tensor, target: Tensor) -> Tensor:
    """Mean squared distance of the L2-normalised rows, in [0, 4]; 0 (with a gradient path) when N == 0.

    Shape:
        predicted, target: (N, D); returns a scalar. The target is detached (it is an input feature).
    """
    if predicted.dim() != 2 or predicted.shape != target.shape:
        raise ValueError(
            f"predicted and target must both be (N, D); got {tuple(predicted.shape)}, {tuple(target.shape)}"
        )
    if predicted.shape[0] == 0:
        return predicted.sum() * 0.0  # () zero, still connected to the graph
    p = F.normalize(predicted.float(), dim=1)  # (N, D)
    t = F.normalize(target.detach().float(), dim=1)  # (N, D)
    return (p - t).pow(2).sum(dim=1).mean()  # (N, D) -> (N,) -> ()
