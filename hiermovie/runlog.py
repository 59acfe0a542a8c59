"""A run's log: one JSON line per step (`log.jsonl`) and a loss-curve PNG drawn from it."""

import json
from pathlib import Path

from matplotlib.figure import Figure


class RunLog:
    """Append-only JSONL log; on resume, lines past the resumed step are dropped (a killed run may
    have logged steps its checkpoint does not hold)."""

    def __init__(self, path: Path, resume_step: int = 0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        kept = [r for r in read_log(self.path) if r.get("step", 0) <= resume_step] if resume_step else []
        self.path.write_text("".join(json.dumps(r) + "\n" for r in kept))

    def write(self, **record) -> None:
        with self.path.open("a") as file:
            file.write(json.dumps(record) + "\n")


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
