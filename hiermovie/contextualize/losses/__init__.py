"""Stage-2 mask-prediction losses, one pure function per file."""

from hiermovie.contextualize.losses.mask_l2 import mask_l2_loss
from hiermovie.contextualize.losses.mask_nce import mask_nce_loss

__all__ = ["mask_l2_loss", "mask_nce_loss"]
