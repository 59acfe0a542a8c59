import os
import signal
import time

import pytest
import torch

from hiermovie.errors import HiermovieError, InputFileError
from hiermovie.parallel import run_parallel, run_workers
from hiermovie.results import append_record, read_records


def test_every_job_runs_once_in_forked_single_thread_workers():
    parent = os.getpid()
    scale = torch.tensor(3.0)  # inherited by the workers, never pickled

    def work(job: int):
        return os.getpid(), torch.get_num_threads(), float(scale * job)

    results = dict(run_parallel(work, list(range(6)), workers=2))
    assert sorted(results) == list(range(6))
    assert all(value == 3.0 * job for job, (_, _, value) in results.items())
    pids = {pid for pid, _, _ in results.values()}
    assert parent not in pids and 1 <= len(pids) <= 2
    assert {threads for _, threads, _ in results.values()} == {1}


def test_a_last_job_runs_in_a_single_thread_worker_too():
    # torch's sums depend on its thread count: a resumed table's last run gives what a worker would have
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        assert list(run_parallel(lambda job: torch.get_num_threads(), ["last"], workers=2)) == [("last", 1)]
    finally:
        torch.set_num_threads(threads)


def test_one_worker_runs_the_jobs_here_in_order():
    seen = []
    results = list(run_parallel(lambda job: seen.append(job) or os.getpid(), ["a", "b", "c"], workers=1))
    assert seen == ["a", "b", "c"] and results == [("a", os.getpid()), ("b", os.getpid()), ("c", os.getpid())]


def test_an_error_in_a_worker_is_raised_in_the_parent_with_its_message():
    def work(job: int):
        if job == 2:
            raise InputFileError("labels/scene.csv", "line 3: no label")
        return job

    with pytest.raises(InputFileError, match=r"labels/scene.csv: line 3: no label") as caught:
        list(run_parallel(work, [0, 1, 2, 3], workers=2))
    assert caught.value.problem == "line 3: no label"


def test_the_worker_count_follows_the_device():
    assert run_workers(torch.device("cpu"), 3) == 3
    assert run_workers(torch.device("cpu"), 0) == 1
    assert run_workers(torch.device("cuda"), None) == 1
    assert run_workers(torch.device("cpu"), None) == len(os.sched_getaffinity(0))


def test_a_worker_killed_mid_run_names_its_job_and_the_finished_runs_stay_recorded(tmp_path):
    def work(job: int):
        if job == 3:
            os.kill(os.getpid(), signal.SIGKILL)  # as the out-of-memory killer would
        time.sleep(0.2)
        return job

    def hangs(*_):
        raise AssertionError("run_parallel hangs after a worker died")

    signal.signal(signal.SIGALRM, hangs)
    signal.alarm(60)
    try:
        with pytest.raises(HiermovieError, match=r"job 3: its worker process \(pid \d+\) was killed by SIGKILL"):
            for job, result in run_parallel(work, list(range(8)), workers=2):
                append_record(tmp_path / "runs.jsonl", {"job": job, "result": result})
    finally:
        signal.alarm(0)
    recorded = {record["job"] for record in read_records(tmp_path / "runs.jsonl")}
    assert {0, 1, 2} <= recorded and 3 not in recorded  # 2 ran beside 3 and finished after it died
