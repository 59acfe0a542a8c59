"""Repeated runs with different seeds (the paper reports mean and standard error over runs): a
resumable JSONL record with one line per finished run, and the mean / standard-error summary."""

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def read_records(path: Path) -> list[dict]:
    """The finished runs recorded in `path` (none if it does not exist yet)."""
    path = Path(path)
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


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


def slug(label: str) -> str:
    """A file-name-safe lower-case form of a row label."""
    return "".join(c if c.isalnum() else "_" for c in label).strip("_").lower()
