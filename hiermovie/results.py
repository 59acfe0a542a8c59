"""Repeated runs with different seeds (the paper reports mean and standard error over runs): a
resumable JSONL record with one line per finished run, and the mean / standard-error summary."""

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hiermovie.errors import HiermovieError, InputFileError


def read_records(path: Path) -> list[dict]:
    """The finished runs recorded in `path` (none if it does not exist yet).

    A last line cut short (a kill during the append) is ignored: that run is simply redone.
    """
    path = Path(path)
    if not path.is_file():
        return []
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            if number < len(lines):
                raise InputFileError(path, f"line {number} is not a JSON record; delete it to redo that run") from None
    return records


def append_record(path: Path, record: dict) -> None:
    """Append one finished run; a run killed before this line is simply redone on resume."""
    with Path(path).open("a") as file:
        file.write(json.dumps(record) + "\n")


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean (sample std / sqrt(n)); the error is NaN for one value."""
    array = np.asarray(values, dtype=float)
    if len(array) == 0:
        return math.nan, math.nan
    error = array.std(ddof=1) / math.sqrt(len(array)) if len(array) > 1 else math.nan
    return float(array.mean()), float(error)


def format_mean_se(summary: dict, digits: int = 2) -> str:
    """ "12.34 ± 0.56" from {"mean", "se"}; the mean alone after a single run (NaN error); "-" for a NaN mean
    (a metric that is undefined, such as Rec@5 when no verb qualifies)."""
    if math.isnan(summary["mean"]):
        return "-"
    if math.isnan(summary["se"]):
        return f"{summary['mean']:.{digits}f}"
    return f"{summary['mean']:.{digits}f} ± {summary['se']:.{digits}f}"


def format_percent(fraction: float, digits: int = 2) -> str:
    """A fraction in % ("12.34"); "-" where it is undefined (NaN)."""
    return format_mean_se({"mean": 100 * fraction, "se": math.nan}, digits)


def slug(label: str) -> str:
    """A file-name-safe lower-case form of a row label."""
    return "".join(c if c.isalnum() else "_" for c in label).strip("_").lower()


def claim_folder(folder: Path, setup: dict) -> None:
    """Refuse to mix runs of another config, cache or TxE into an output folder."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "setup.json"
    if path.is_file():
        saved = json.loads(path.read_text())
        changed = sorted(key for key in setup if saved.get(key) != json.loads(json.dumps(setup[key])))
        if changed:
            raise HiermovieError(
                f"{folder}: holds runs with another {', '.join(changed)}; use a new --out or delete the folder"
            )
    else:
        path.write_text(json.dumps(setup, indent=1))
