"""The L2 alternative to Eq. 1 (paper Table 2, bottom), as a pure function.

    L_l2 = || o - t ||^2

between the L2-normalised TxE output o at a masked position and its target t. It has no distractors, so
nothing stops the outputs from collapsing onto the targets' mean; the paper found it slightly worse.
Computed in fp32 (at least) whatever the autocast state, as `mask_nce_loss`.
"""

import torch
from torch import Tensor


def mask_l2_loss(outputs: Tensor, targets: Tensor) -> Tensor:
    """Squared L2 distance between each masked output and its (stop-gradient) target, mean over M.

    Both are L2-normalised, so the loss equals 2 - 2 cos(o, t) and lies in [0, 4].

    Shape:
        outputs, targets: (M, H); returns a scalar.
    """
    if outputs.dim() != 2 or outputs.shape != targets.shape or outputs.shape[0] == 0:
        raise ValueError(
            f"outputs and targets must both be (M, H), M > 0; got {tuple(outputs.shape)}, {tuple(targets.shape)}"
        )
    with torch.autocast(outputs.device.type, enabled=False):  # fp32 (at least), as mask_nce_loss
        outputs, targets = (t.to(torch.promote_types(t.dtype, torch.float32)) for t in (outputs, targets))
        return (outputs - targets).pow(2).sum(dim=1).mean()  # (M, H) -> (M,) -> ()
