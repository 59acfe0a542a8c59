"""Stage-1 self-supervised losses, one pure function per file."""

from hiermovie.extract.losses.moco_nce import moco_nce_loss
from hiermovie.extract.losses.modist import modist_loss
from hiermovie.extract.losses.nt_xent import nt_xent_loss

__all__ = ["moco_nce_loss", "modist_loss", "nt_xent_loss"]
