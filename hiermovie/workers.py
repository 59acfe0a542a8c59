"""Worker processes that die, stall or run out of shared memory end the run with one line naming the cause
and the cure, never a hang or a traceback.

DataLoader workers hand their batches to the main process through /dev/shm (containers often give it 64 MB).
When it is full, torch fails to move a tensor there; where that happens while the worker's queue thread
pickles the batch, Python prints the error, drops the batch, and the main process waits for it forever (the
worker is alive). `worker_loader` moves every batch into shared memory in the worker itself, so the failure
travels back as that batch's error, and gives up on workers that deliver nothing for `STALL_S` seconds.

A worker that dies (out of memory, killed) is reported by torch's SIGCHLD handler, which raises its error
wherever the main process is: inside a checkpoint or shard writer, or in the cleanup after a first error.
Within `worker_faults`, our handler takes its place: it records the death, and raises it only while the
main process is in the loader's iteration; otherwise the iteration raises it before the next batch.
`worker_faults` turns these errors into one HiermovieError.
"""

import contextlib
import re
import signal
import threading
import time
import traceback
from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info
from torch.utils.data._utils import signal_handling

from hiermovie.errors import HiermovieError

STALL_S = 600  # a worker silent this long is stuck: far beyond one video's decode (docs/reliability.md)
FEWER_WORKERS = "rerun with fewer --workers (--workers 0: decode in the main process)"
SHARED_MEMORY = (
    "the DataLoader workers ran out of shared memory: /dev/shm is full or too small; "
    "give it more space (docker run --shm-size=2g) or rerun with --workers 0 (decode in the main process)"
)
_deaths: list[str] = []  # torch's words on the workers that died, recorded by `_on_child_exit`


def worker_loader(dataset: Dataset, workers: int, **options) -> DataLoader:
    """A DataLoader over `dataset` with `workers` processes whose shared-memory failures and deaths come
    back as errors, and that gives up after `STALL_S` s without a batch; `options` as for DataLoader.
    Iterate it within `worker_faults()`."""
    return _WorkerLoader(dataset, num_workers=workers, timeout=STALL_S if workers else 0, **options)


class _WorkerLoader(DataLoader):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.collate_fn = _SharedInWorker(self.collate_fn)

    def __iter__(self):
        batches = super().__iter__()
        while True:
            if _deaths:  # a worker died while the main process was busy elsewhere
                raise RuntimeError(_deaths[0])
            try:
                batch = next(batches)
            except StopIteration:
                return
            yield batch


class _SharedInWorker:
    """The loader's collate function, then (in a worker) every tensor of the batch moved to shared memory."""

    def __init__(self, collate):
        self.collate = collate

    def __call__(self, items):
        batch = self.collate(items)
        if get_worker_info() is not None:
            for tensor in _tensors(batch):
                tensor.share_memory_()  # a no-op for those already there (default_collate puts them there)
        return batch


def _tensors(data) -> Iterator[torch.Tensor]:
    if isinstance(data, torch.Tensor):
        yield data
    elif isinstance(data, dict):
        for value in data.values():
            yield from _tensors(value)
    elif isinstance(data, list | tuple):
        for value in data:
            yield from _tensors(value)


def _on_child_exit(signum, frame) -> None:
    """SIGCHLD: record a worker's death; raise it only if the main process is in a loader's iteration."""
    try:
        signal_handling._error_if_any_worker_fails()  # torch's check of its workers (waitid, not reaping)
    except RuntimeError as error:
        _deaths.append(str(error))
        while frame is not None:
            if frame.f_code is _WorkerLoader.__iter__.__code__:
                raise
            frame = frame.f_back


@contextlib.contextmanager
def worker_faults() -> Iterator[None]:
    """Turn errors about DataLoader workers (killed, out of shared memory, stalled) raised within into a
    one-line HiermovieError naming the cause and the cure; other errors pass unchanged.

    A worker that dies before the main process has fetched the shared memory of its batch (a file descriptor
    handed over a socket) shows as that fetch failing."""
    main = threading.current_thread() is threading.main_thread()  # signal handlers belong to the main thread
    ours = main and signal.getsignal(signal.SIGCHLD) is not _on_child_exit  # the outermost block's
    if ours:
        _deaths.clear()
        previous = signal.signal(signal.SIGCHLD, _on_child_exit)
        torch_handler, signal_handling._SIGCHLD_handler_set = signal_handling._SIGCHLD_handler_set, True
    try:
        yield
    except (RuntimeError, OSError, EOFError) as error:
        if _in_handover(error):  # the worker is likely dying: give its SIGCHLD a moment, to name the signal
            for _ in range(50):
                if _deaths:
                    break
                time.sleep(0.01)
        message = _worker_fault("\n".join([*_texts(error), *_deaths]))
        if message is None and _in_handover(error):
            message = f"fetching a batch from a DataLoader worker failed ({error}): it died (out of memory?) or "
            message += f"the open-file limit (ulimit -n) was reached; {FEWER_WORKERS}"
        if message is None:
            raise
        raise HiermovieError(message) from error
    finally:
        if ours:
            signal.signal(signal.SIGCHLD, previous)
            signal_handling._SIGCHLD_handler_set = torch_handler
            _deaths.clear()


def _in_handover(error: BaseException) -> bool:
    """Whether `error` arose while the main process fetched the file descriptor of a batch from a worker."""
    return any(
        frame.f_code.co_filename.endswith(("resource_sharer.py", "multiprocessing/reductions.py"))
        for frame, _ in traceback.walk_tb(error.__traceback__)
    )


def _texts(error: BaseException | None) -> Iterator[str]:
    """The texts of `error` and of the errors it was raised from: a death `_on_child_exit` raises while the
    main process waits for a batch becomes the cause of torch's "worker ... exited unexpectedly"."""
    while error is not None:
        yield str(error)
        error = error.__cause__ or error.__context__


def _worker_fault(text: str) -> str | None:
    """The one-line message for torch's text of a worker fault; None if `text` is not one."""
    if "Communication with the workers is no longer possible" in text:  # torch's words for too many open files
        return f"the DataLoader workers ran out of file descriptors; raise the limit (ulimit -n) or {FEWER_WORKERS}"
    if "DataLoader" not in text:
        return None
    if "shared memory" in text or "</torch_" in text:  # torch's shm files; "Bus error ... out of shared memory"
        return SHARED_MEMORY
    if timed_out := re.search(r"DataLoader timed out after (\d+) seconds", text):
        return f"the DataLoader workers delivered nothing for {timed_out[1]} s (a stuck decoder?); {FEWER_WORKERS}"
    if died := re.search(r"DataLoader worker \(pid\(?s?\)? ([\d, ]+)\)", text):
        killed, code = re.search(r"killed by signal: ([^.]+)", text), re.search(r"exit code (-?\d+)", text)
        how = "exited unexpectedly (killed, out of memory?)"
        if killed:
            number = next((n for n in signal.Signals if signal.strsignal(n) == killed[1].strip()), None)
            how = exit_cause(-number) if number else f"was killed by signal {killed[1].strip()}"
        elif code:
            how = exit_cause(int(code[1]))
        return f"DataLoader worker (pid {died[1]}) {how}; {FEWER_WORKERS}"
    return None


def exit_cause(exitcode: int) -> str:
    """How a process ended, from its exit code (negative: the signal that killed it)."""
    if exitcode >= 0:
        return f"exited with code {exitcode}"
    name = signal.Signals(-exitcode).name
    return f"was killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
