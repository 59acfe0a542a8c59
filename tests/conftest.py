"""Fixtures shared by all tests: where shared/ lies, one tiny benchmark generated per session, the helpers
that start and stop other processes (`kill_when`, `torchrun`) and a reader of TensorBoard event files."""

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

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


class Killed(NamedTuple):
    """What `kill_when` saw. `mid_run`: `ready()` fired and the signal hit the process while it ran (so a run
    that crashed at start-up or finished first does not pass as killed); the command's exit code (None: it
    still ran `wait` s after the signal: it hung, and was then killed) and its stderr."""

    mid_run: bool
    returncode: int | None
    stderr: str


def _kill_when(
    command: list[str],
    ready: Callable[[], bool],
    timeout: float = 300.0,
    worker: bool = False,
    sig: int = signal.SIGKILL,
    wait: float = 60.0,
) -> Killed:
    """Start `command`; as soon as `ready()` holds, send `sig` to it (`worker`: to one of its child processes,
    its DataLoader workers, once it has one) and wait for the command to end."""
    with tempfile.TemporaryFile("w+") as stderr:  # a file, not a pipe: a full pipe would stall the command
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline, target = time.monotonic() + timeout, None
        while process.poll() is None and time.monotonic() < deadline:
            if ready() and (target := min(children(process.pid), default=None) if worker else process.pid):
                break
            time.sleep(0.002)
        hit = False
        if target is not None and process.poll() is None:
            try:
                os.kill(target, sig)
                hit = True
            except ProcessLookupError:  # the worker ended just before
                pass
        try:
            returncode = process.wait(wait)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            returncode = None
        stderr.seek(0)
        # killed by our signal, not ended on its own just before it
        mid_run = hit and (worker or returncode == -sig)
        return Killed(mid_run, returncode, stderr.read())


def children(pid: int) -> list[int]:
    """The child processes of `pid`, from /proc."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(child) for child in (task / "children").read_text().split()]
        except OSError:  # the thread or the process ended
            pass
    return found


@pytest.fixture
def kill_when():
    """`kill_when(command, ready, timeout=300, worker=False, sig=SIGKILL, wait=60) -> Killed`: run a
    command, send `sig` to it (or to one of its workers) once `ready()` is true, wait for it to end."""
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
