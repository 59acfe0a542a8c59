"""Independent runs (the seeds and rows of a task table) spread over CPU worker processes.

A task run is a small model trained for a few hundred steps: on a CPU its ops are too small for torch's
threads to share well (an SRL run on 2 cores: 17.4 s with 2 threads, 23.6 s with 1), so one process per
core, each with one thread, finishes the table sooner (docs/performance.md). Workers are forked: they
inherit the loaded data and the run function, and only the job keys and the results cross processes.
"""

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from typing import TypeVar

import torch

from hiermovie.device import cpu_cores

Job = TypeVar("Job")
Result = TypeVar("Result")
_pool_work: dict[str, Callable] = {}  # the run function of the pool being started: forked workers inherit it


def run_workers(device: torch.device, jobs: int | None) -> int:
    """The worker processes for a table's runs: `jobs` if given, else one per core on the CPU; 1 on CUDA
    (one process owns the device) and under `torchrun` (the ranks share each run)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        return 1
    if jobs is not None:
        return max(1, jobs)
    return cpu_cores() if device.type == "cpu" else 1


def run_parallel(work: Callable[[Job], Result], jobs: Sequence[Job], workers: int) -> Iterator[tuple[Job, Result]]:
    """(job, work(job)) for every job, in order of completion. `workers` <= 1 runs them here, in order;
    otherwise in that many forked processes of one torch thread each, even for a single job: torch's sums
    depend on its thread count, so a run gives the same numbers however many runs are left. The first error
    raised by a run is raised here, and the runs not yet started are cancelled."""
    if workers <= 1 or not jobs:
        for job in jobs:
            yield job, work(job)
        return
    context = multiprocessing.get_context("fork")
    pool = ProcessPoolExecutor(
        min(workers, len(jobs)), mp_context=context, initializer=torch.set_num_threads, initargs=(1,)
    )
    _pool_work["work"] = work
    try:
        pending = {pool.submit(_run, job): job for job in jobs}  # the workers are forked at the first submit
        _pool_work.clear()
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                yield pending.pop(future), future.result()
    finally:
        pool.shutdown(cancel_futures=True)


def _run(job):
    """In a worker: the inherited run function on one job."""
    return _pool_work["work"](job)
