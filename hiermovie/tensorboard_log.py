"""TensorBoard event files of a training run (`tensorboard --logdir runs/`), beside its own logs.

Written when the `tensorboard` package is installed; without it, training runs as before and says once,
on stderr, that this logging is off. A run that restarts at step k hides what a killed attempt wrote from
step k on (`purge_step`), so a resumed curve has no duplicated steps.
"""

import sys
from pathlib import Path

import torch

OFF = "TensorBoard logging is off: the tensorboard package is not installed (pip install tensorboard)"
EMBEDDING_NUMBERS = 250_000  # writing a projector's points costs ~1.5 us a number: at most ~0.4 s
_said = {"off": False}  # forked task workers inherit it: the line is printed once per command


def available() -> bool:
    """Whether TensorBoard event files can be written (says once when they cannot)."""
    try:
        import torch.utils.tensorboard  # noqa: F401
    except ImportError:
        if not _said["off"]:
            print(OFF, file=sys.stderr, flush=True)
            _said["off"] = True
        return False
    return True


def embedding_points(dim: int, most: int = 1000) -> int:
    """How many `dim`-d points the embedding projector gets: `most`, fewer for wide vectors (cost)."""
    return max(1, min(most, EMBEDDING_NUMBERS // dim))


class EventLog:
    """One run's event files in `folder` (None, or tensorboard not installed: writes nothing).

    `purge_step`: the first step this process writes; what an earlier attempt wrote from there on is hidden.
    """

    def __init__(self, folder: Path | None, purge_step: int | None = None):
        self.writer = None
        if folder is not None and available():
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(folder), purge_step=purge_step)

    def scalars(self, step: int, values: dict) -> None:
        """Every number of `values` at `step`, tagged with its key (other values are skipped)."""
        if self.writer is None:
            return
        for key, value in values.items():
            if isinstance(value, int | float):
                self.writer.add_scalar(key, float(value), step)

    def embedding(self, vectors: torch.Tensor, labels: list[str], step: int, tag: str) -> None:
        """Points for the embedding projector: `vectors` (P, H), one label each (metadata)."""
        if self.writer is not None:
            self.writer.add_embedding(vectors.float().cpu(), metadata=labels, global_step=step, tag=tag)

    def flush(self) -> None:
        if self.writer is not None:
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()

    def __enter__(self) -> "EventLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
