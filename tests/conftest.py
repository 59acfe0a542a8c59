"""Fixtures shared by all tests: where shared/ lies, one tiny benchmark generated per session, the helpers
that start and stop other processes (`kill_when`, `torchrun`) and a reader of TensorBoard event files."""

import os
import signal
import subprocess
import sys
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


@pytest.fixture(scope="session")
def tiny_backbone(tmp_path_factory) -> Path:
    """A randomly initialised tiny Slow-D checkpoint (kind "backbone")."""
    import torch

    from hiermovie.checkpoint import save_checkpoint
    from hiermovie.extract.backbone import create_slow_d
    from hiermovie.extract.config import BACKBONE_PROFILES

    torch.manual_seed(0)
    config = BACKBONE_PROFILES["tiny"]
    path = tmp_path_factory.mktemp("backbone") / "checkpoint.pt"
    save_checkpoint(path, kind="backbone", config=config, step=0, backbone=create_slow_d(config).state_dict())
    return path


@pytest.fixture(scope="session")
def tiny_cache(tiny_benchmark, tiny_backbone, tmp_path_factory) -> Path:
    """The tiny benchmark extracted at 1 s by `tiny_backbone` (512-d), 6 videos per shard."""
    from dataclasses import replace

    from hiermovie.extract.config import EXTRACT_PROFILES
    from hiermovie.extract.featurize import ExtractOptions, extract

    out = tmp_path_factory.mktemp("cache") / "cache"
    config = replace(EXTRACT_PROFILES["tiny"], stride_sec=1.0, videos_per_shard=6)
    extract(tiny_backbone, tiny_benchmark, out, config, ExtractOptions(device="cpu", workers=0, progress=False))
    return out


def _kill_when(command: list[str], ready, timeout: float = 300.0) -> None:
    """Start `command` and SIGKILL it as soon as `ready()` holds (or it ends, or `timeout` s pass)."""
    import time

    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.fixture
def kill_when():
    """`kill_when(command, ready, timeout=300)`: run a command, SIGKILL it once `ready()` is true."""
    return _kill_when


def _torchrun(args: list[str], logs: Path, ranks: int = 2, timeout: float = 600.0) -> subprocess.CompletedProcess:
    """`python -m hiermovie ARGS` under torchrun with `ranks` CPU processes; fails the test, with torchrun's and
    each rank's stderr tail, unless it exits 0 within `timeout` s.

    `--standalone`: the run's rendezvous store binds port 0 and the ranks meet through it, so concurrent runs
    never share a port. Each rank writes its stdout and stderr to LOGS/<run id>/attempt_0/<rank>/; faulthandler
    adds the Python stacks of a rank that aborts. On timeout torchrun gets SIGTERM, which stops its ranks (they
    run in sessions of their own), then SIGKILL.
    """
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}"]
    command += ["--log-dir", str(logs), "--redirects", "3", "-m", "hiermovie", *args]
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        try:
            stdout, stderr = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        stderr += f"\n(stopped after {timeout:.0f} s)"
    if process.returncode != 0:
        tails = [f"torchrun {' '.join(args[:2])} exited with {process.returncode}; its stderr:\n{stderr[-2000:]}"]
        for log in sorted(Path(logs).glob("*/attempt_*/*/stderr.log")):
            tails.append(f"--- rank {log.parent.name} ({log.parent.parent.name}) stderr:\n{log.read_text()[-2000:]}")
        pytest.fail("\n".join(tails), pytrace=False)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


@pytest.fixture
def torchrun():
    """`torchrun(args, logs, ranks=2, timeout=600)`: `python -m hiermovie ARGS` under torchrun on a port of its
    own; a failure shows every rank's stderr."""
    return _torchrun


def _tensorboard_scalars(folder: Path, purge: bool = True) -> dict[str, list[tuple[int, float]]]:
    """Tag -> [(step, value)] of the event files in `folder`, as TensorBoard shows them (`purge`: what a restart
    at step k hid from an earlier attempt left out)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0}, purge_orphaned_data=purge).Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


@pytest.fixture
def tensorboard_scalars():
    """`tensorboard_scalars(folder, purge=True)`: tag -> [(step, value)] read back from a run's event files."""
    return _tensorboard_scalars
