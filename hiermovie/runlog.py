"""A run's log: one JSON line per step (`log.jsonl`), the same scalars in TensorBoard event files, and a
loss-curve PNG drawn from the JSONL."""

import json
from pathlib import Path

from matplotlib.figure import Figure

from hiermovie.tensorboard_log import EventLog


class RunLog:
    """Append-only JSONL log, and its numbers as scalars in the event files of `tensorboard` (a folder; None:
    none); on resume, what a killed run logged past the resumed step is dropped (its checkpoint does not hold it).
    """

    def __init__(self, path: Path, resume_step: int = 0, tensorboard: Path | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = [r for r in read_log(self.path) if r.get("step", 0) <= resume_step] if resume_step else []
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))
        self.events = EventLog(tensorboard, purge_step=resume_step + 1)

    def write(self, **record) -> None:
        with self.path.open("a") as file:
            file.write(json.dumps(record) + "\n")
        self.events.scalars(record["step"], {k: v for k, v in record.items() if k != "step"})

    def flush(self) -> None:
        """Event files up to date (the JSONL always is): call before a checkpoint."""
        self.events.flush()

    def close(self) -> None:
        self.events.close()


def read_log(path: Path) -> list[dict]:
    """The records of a JSONL log (a torn last line from a kill is skipped)."""
    if not Path(path).is_file():
        return []
    records = []
    for line in Path(path).read_text().splitlines():
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


def plot_losses(
    log: Path, png: Path, keys: tuple[str, ...] = ("loss",), title: str = "", chance: float | None = None
) -> None:
    """Draw the given keys of a JSONL log against the step, and the loss of chance as a dashed line."""
    records = read_log(log)
    figure = Figure(figsize=(6, 3.5))
    axis = figure.subplots()
    for key in keys:
        points = [(r["step"], r[key]) for r in records if key in r]
        if points:
            axis.plot(*zip(*points, strict=True), label=key, linewidth=1)
    if chance is not None:
        axis.axhline(chance, color="grey", linestyle="--", linewidth=1, label=f"chance {chance:.2f}")
    axis.set_xlabel("step")
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(png, dpi=100)
