"""Fixtures shared by all tests: where shared/ lies, and one tiny benchmark generated per session."""

import os
from pathlib import Path

import pytest

from hiermovie.datasets.config import SYNTH_SIZES
from hiermovie.datasets.synth.generate import generate

# shared/ (the team's notes and data) lies beside the checkout, here and in CI
SHARED = Path(os.environ.get("HIERMOVIE_SHARED", Path(__file__).resolve().parents[2] / "shared"))


@pytest.fixture(scope="session")
def real_lvu() -> Path:
    """The real LVU 1.0 label files in shared/data (skips where shared/ is absent)."""
    path = SHARED / "data" / "lvu_1.0"
    if not path.is_dir():
        pytest.skip(f"real LVU label files not found at {path} (set HIERMOVIE_SHARED)")
    return path


@pytest.fixture(scope="session")
def tiny_benchmark(tmp_path_factory) -> Path:
    """The `tiny` embedded benchmark (seed 0), generated once per test session."""
    out = tmp_path_factory.mktemp("bench") / "tiny"
    generate(SYNTH_SIZES["tiny"], out, jobs=2, progress=False)
    return out


def _write_one_by_one(size: int, batches: list[int]) -> tuple[list[float | None], int]:
    """Write the running indices one by one into a list ring buffer: (slots, pointer)."""
    slots: list[float | None] = [None] * size
    pointer, index = 0, 0
    for count in batches:
        for _ in range(count):
            slots[pointer] = float(index)
            pointer, index = (pointer + 1) % size, index + 1
    return slots, pointer


@pytest.fixture
def reference_fifo():
    """The reference every queue of negatives (hiermovie.ring_buffer) is checked against."""
    return _write_one_by_one
