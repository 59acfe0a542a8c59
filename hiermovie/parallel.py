"""Independent runs (the seeds and rows of a task table) spread over CPU worker processes.

A task run is a small model trained for a few hundred steps: on a CPU its ops are too small for torch's
threads to share well (an SRL run on 2 cores: 17.4 s with 2 threads, 23.6 s with 1), so one process per
core, each with one thread, finishes the table sooner (docs/performance.md). Workers are forked: they
inherit the loaded data and the run function, and only the job indices and the results cross processes,
over one pipe per worker, so the parent knows which job each worker runs, and names it if the worker dies.
"""

import contextlib
import multiprocessing
import os
import traceback
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from typing import TypeVar

import torch

from hiermovie.device import cpu_cores
from hiermovie.errors import HiermovieError
from hiermovie.workers import exit_cause

Job = TypeVar("Job")
Result = TypeVar("Result")


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
    depend on its thread count, so a run gives the same numbers however many runs are left. After the first
    error raised by a run, or a worker that dies (killed, out of memory: a HiermovieError naming its job), no
    run starts; the runs under way finish and are yielded, then the error is raised."""
    if workers <= 1 or not jobs:
        for job in jobs:
            yield job, work(job)
        return
    context = multiprocessing.get_context("fork")
    todo = deque(range(len(jobs)))
    running: dict[Connection, tuple[multiprocessing.Process, int]] = {}  # a worker's pipe: (worker, job index)
    failure: Exception | None = None
    try:
        for _ in range(min(workers, len(jobs))):
            ours, theirs = context.Pipe()
            worker = context.Process(target=_serve, args=(work, jobs, theirs))
            worker.start()
            theirs.close()
            running[ours] = (worker, todo.popleft())
            ours.send(running[ours][1])
        while running:
            for pipe in wait(list(running)):
                worker, index = running.pop(pipe)
                try:
                    result = _outcome(pipe, worker, jobs[index])
                except Exception as error:
                    failure = failure or error
                    result = None
                if todo and failure is None:
                    running[pipe] = (worker, todo.popleft())
                with contextlib.suppress(OSError):  # its next job or the end; if it died, the next wait tells
                    pipe.send(running[pipe][1] if pipe in running else None)
                if pipe not in running:
                    pipe.close()
                    worker.join()
                if result is not None:
                    yield jobs[index], result[0]
        if failure is not None:
            raise failure
    finally:  # an error here or in the consumer: the runs still under way are not needed
        for pipe, (worker, _) in running.items():
            worker.kill()
            worker.join()
            pipe.close()


def _serve(work: Callable, jobs: Sequence, pipe: Connection) -> None:
    """In a worker: the inherited run function on each job index received, until None; one torch thread."""
    torch.set_num_threads(1)
    try:
        while (index := pipe.recv()) is not None:
            try:
                outcome = (True, work(jobs[index]))
            except Exception as error:
                outcome = (False, error, traceback.format_exc())
            try:
                pipe.send(outcome)
            except Exception as error:  # a result or an error that cannot be pickled
                pipe.send((False, RuntimeError(f"job {jobs[index]!r}: {error}"), traceback.format_exc()))
    except (KeyboardInterrupt, EOFError, BrokenPipeError):  # Ctrl-C reaches the whole group; the parent is gone
        pass


def _outcome(pipe: Connection, worker: multiprocessing.Process, job) -> tuple:
    """(the result,) of the job `worker` ran; its error raised here, with the worker's traceback as cause."""
    try:
        outcome = pipe.recv()
    except EOFError:  # the worker died without an answer
        worker.join()
        raise HiermovieError(
            f"job {job!r}: its worker process (pid {worker.pid}) {exit_cause(worker.exitcode)}; the runs "
            "finished before are recorded: rerun to do the rest"
        ) from None
    if outcome[0]:
        return (outcome[1],)
    _, error, trace = outcome
    raise error from _RemoteTraceback(trace)


class _RemoteTraceback(Exception):
    """The traceback of an error raised in a worker, shown as the cause of its re-raise here."""

    def __str__(self) -> str:
        return f"\n{self.args[0]}"
