"""Stage-2 task losses, one pure function per file."""

from hiermovie.tasks.losses.masked_instance import masked_instance_loss
from hiermovie.tasks.losses.sequence_cross_entropy import sequence_cross_entropy

__all__ = ["masked_instance_loss", "sequence_cross_entropy"]
