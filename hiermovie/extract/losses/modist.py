"""MoDist (MaCLR) visual + motion contrastive loss, as a pure function of the two pathways' projections.

    L = L_vv + w * (L_vm + L_mv)

- L_vv = InfoNCE(visual query, visual key of its positive clip, visual queue): MoCo instance discrimination.
- L_vm = InfoNCE(visual query, motion key of the same clip, motion queue): the visual query must find its
  clip's motion key among the motion negatives.
- L_mv = InfoNCE(motion query, visual key, visual queue): the converse.

Documented choice: the total `contrastive_loss + CONTRASTIVE_FLOW_WEIGHT * flow_contrastive_loss` is in the
released MaCLR code (`tools/train_net.py`), but its loss functions are stripped, so the pairing of queries,
keys and queues above is our reading of the paper (notes `lvu_and_backbone.md` section D). Motion-motion
instance discrimination is off, as `FLOW_INST_DISC=False` in MaCLR's defaults. w = CONTRASTIVE_FLOW_WEIGHT = 1.
"""

from torch import Tensor

from hiermovie.extract.losses.moco_nce import moco_nce_loss


def modist_loss(
    q_visual: Tensor,
    k_visual: Tensor,
    q_motion: Tensor,
    k_motion: Tensor,
    visual_queue: Tensor,
    motion_queue: Tensor,
    temperature: float = 0.1,
    motion_weight: float = 1.0,
) -> tuple[Tensor, dict[str, float]]:
    """L_vv + motion_weight * (L_vm + L_mv), plus the three terms as floats for logging.

    Args:
        q_visual: L2-normalised visual queries (online visual encoder).
        k_visual: L2-normalised visual keys (momentum visual encoder), row i positive for query i.
        q_motion: L2-normalised motion queries (online motion encoder).
        k_motion: L2-normalised motion keys (momentum motion encoder).
        visual_queue: past visual keys, the negatives of L_vv and L_mv.
        motion_queue: past motion keys, the negatives of L_vm.
        temperature: softmax temperature T of every term.
        motion_weight: weight w of the two cross-modal terms.

    Returns:
        (loss, {"loss_vv": ..., "loss_vm": ..., "loss_mv": ...}).

    Shape:
        q_*, k_*: (B, D); visual_queue: (K_v, D); motion_queue: (K_m, D).
    """
    loss_vv = moco_nce_loss(q_visual, k_visual, visual_queue, temperature)  # ()
    loss_vm = moco_nce_loss(q_visual, k_motion, motion_queue, temperature)  # ()
    loss_mv = moco_nce_loss(q_motion, k_visual, visual_queue, temperature)  # ()
    loss = loss_vv + motion_weight * (loss_vm + loss_mv)
    terms = {"loss_vv": float(loss_vv.detach()), "loss_vm": float(loss_vm.detach()), "loss_mv": float(loss_mv.detach())}
    return loss, terms
