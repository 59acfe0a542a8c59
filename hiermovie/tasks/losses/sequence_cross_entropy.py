"""Teacher-forced sequence loss of TxD (VidSitu: `CE(logits[:-1], toks[1:])`, padding ignored)."""

import torch.nn.functional as F
from torch import Tensor


def sequence_cross_entropy(logits: Tensor, targets: Tensor, pad_id: int) -> Tensor:
    """Mean cross-entropy over the non-pad target tokens.

    Shape: logits (B, T, V); targets (B, T) long, `pad_id` where nothing is to be predicted.
    """
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=pad_id)  # scalar
