"""DataLoader workers that die, stall or run out of shared memory (hiermovie.workers): one HiermovieError
naming the cause and the cure, within seconds, never a hang."""

import multiprocessing
import os
import signal
import time
import traceback

import pytest
import torch
from torch.utils.data import Dataset, get_worker_info

from hiermovie import workers
from hiermovie.errors import HiermovieError
from hiermovie.workers import worker_faults, worker_loader


class Items(Dataset):
    """Item i: a (64,) tensor of i; `fault()` runs in place of item 3."""

    def __init__(self, fault=None):
        self.fault = fault

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> torch.Tensor:
        if i == 3 and self.fault is not None:
            self.fault()
        return torch.full((64,), float(i))


def load_all(fault=None, num_workers: int = 2, **options) -> list:
    with worker_faults():
        return list(worker_loader(Items(fault), num_workers, **options))


def kill_self(sig: int):
    return lambda: os.kill(os.getpid(), sig)


def release(error: BaseException | None) -> None:
    """Clear the frames of `error` and its causes: the loader they hold, in a cycle with torch's re-raised
    worker error, then shuts its workers down at once. Left to the garbage collector, torch waits 5 s for each."""
    while error is not None:
        traceback.clear_frames(error.__traceback__)
        error = error.__cause__ or error.__context__


def one_line_error(fault, **options) -> str:
    try:
        load_all(fault, **options)
    except HiermovieError as error:
        message = str(error)
        release(error)
    else:
        pytest.fail("no HiermovieError")
    assert "\n" not in message
    return message


def test_batches_arrive_as_from_a_plain_data_loader():
    assert [batch.tolist() for batch in load_all(batch_size=3)] == [
        [[float(i)] * 64 for i in range(k, min(k + 3, 8))] for k in (0, 3, 6)
    ]
    assert [batch[0].item() for batch in load_all(batch_size=None)] == list(range(8))
    assert worker_loader(Items(), 0).timeout == 0  # no workers: nothing to wait for


def test_a_worker_killed_mid_run_names_the_signal_and_the_cure():
    message = one_line_error(kill_self(signal.SIGKILL))
    assert "SIGKILL (out of memory?)" in message and "--workers" in message


def test_a_worker_that_dies_while_the_main_process_is_busy_elsewhere_is_raised_at_the_next_batch():
    """Not in the middle of whatever the main process does then (torch raises it there, e.g. inside a
    checkpoint writer's `except RuntimeError`)."""
    busy_until_the_end = False
    try:
        with worker_faults():
            for batch in worker_loader(Items(), 2, batch_size=None):
                if batch[0] == 0:
                    os.kill(multiprocessing.active_children()[0].pid, signal.SIGKILL)
                    time.sleep(0.5)  # SIGCHLD arrives here: a checkpoint being written, say
                    busy_until_the_end = True
    except HiermovieError as error:
        message = str(error)
        release(error)
    assert busy_until_the_end and "SIGKILL (out of memory?)" in message


def test_a_bus_error_in_a_worker_is_named_as_shared_memory_running_out():
    message = one_line_error(kill_self(signal.SIGBUS))
    assert all(fragment in message for fragment in ("shared memory", "/dev/shm", "--workers 0"))


@pytest.mark.parametrize("batch_size", [None, 2])
def test_a_full_dev_shm_is_an_error_not_a_hang(batch_size, monkeypatch):
    """Unbatched items are shared while the worker's queue thread pickles them: there torch's error is
    printed and the item dropped, and the main process would wait for it forever."""

    def full(allocate):
        def patched(*args, **kwargs):
            if get_worker_info() is not None:
                raise RuntimeError(
                    f"unable to allocate shared memory(shm) for file </torch_{os.getpid()}_0_0>: "
                    "No space left on device (28)"
                )
            return allocate(*args, **kwargs)

        return patched

    storages = torch.UntypedStorage
    monkeypatch.setattr(storages, "_share_fd_cpu_", full(storages._share_fd_cpu_))
    monkeypatch.setattr(storages, "_new_using_fd_cpu", staticmethod(full(storages._new_using_fd_cpu)))
    monkeypatch.setattr(workers, "STALL_S", 20)
    started = time.monotonic()
    message = one_line_error(None, batch_size=batch_size)
    assert "shared memory" in message and "--workers 0" in message and time.monotonic() - started < 15


def test_a_worker_that_delivers_nothing_times_out(monkeypatch):
    monkeypatch.setattr(workers, "STALL_S", 1)
    message = one_line_error(lambda: time.sleep(3))
    assert "1 s" in message and "--workers 0" in message


def test_other_errors_in_a_worker_keep_their_type_and_traceback():
    def bug():
        raise ValueError("a bug in the dataset")

    try:
        load_all(bug)
    except ValueError as error:  # torch re-raises the worker's error with its traceback in the message
        assert "a bug in the dataset" in str(error) and "Traceback" in str(error)
        release(error)
    else:
        pytest.fail("no ValueError")


@pytest.mark.parametrize(
    ("torch_text", "fragments"),
    [
        ("DataLoader worker (pid 12) is killed by signal: Killed. ", ("pid 12", "SIGKILL (out of memory?)")),
        ("DataLoader worker (pid(s) 12, 13) exited unexpectedly", ("pid 12, 13", "exited unexpectedly")),
        ("DataLoader worker (pid 12) exited unexpectedly with exit code 1. Details are lost", ("exited with code 1",)),
        (
            "DataLoader worker (pid 12) is killed by signal: Bus error. It is possible that dataloader's workers are "
            "out of shared memory. Please try to raise your shared memory limit.",
            ("shared memory", "/dev/shm"),
        ),
        ("Too many open files. Communication with the workers is no longer possible.", ("ulimit -n",)),
        ("DataLoader timed out after 600 seconds", ("600 s",)),
    ],
)
def test_torch_texts_of_worker_faults_become_one_line_with_the_cure(torch_text, fragments):
    with pytest.raises(HiermovieError) as caught, worker_faults():
        raise RuntimeError(torch_text)
    message = str(caught.value)
    assert "\n" not in message and "--workers" in message and all(f in message for f in fragments), message


def test_a_worker_dying_while_handing_over_a_batch_is_one_line_and_other_os_errors_pass():
    """A batch's shared memory reaches the main process as a file descriptor sent over a socket by
    multiprocessing's resource_sharer in the worker; a worker killed in between resets that connection."""
    handover = compile("raise ConnectionResetError(104, 'Connection reset by peer')", "resource_sharer.py", "exec")
    with pytest.raises(HiermovieError, match=r"Connection reset by peer\): it died \(out of memory\?\)"):
        with worker_faults():
            exec(handover)
    with pytest.raises(ConnectionResetError), worker_faults():
        raise ConnectionResetError(104, "Connection reset by peer")  # e.g. torch.distributed's store: not ours
