"""Device choice and the split of CPU cores between decoding workers and torch."""

import os

import pytest
import torch

from hiermovie.device import autocast, cpu_has_native_bf16, decoding_share, resolve_device
from hiermovie.errors import HiermovieError


def test_cpu_is_always_available_and_unknown_devices_are_refused():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(HiermovieError, match="unknown device"):
        resolve_device("tpu")


def test_auto_share_gives_half_the_cores_to_decoding_and_restores_torch_threads(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(8)))
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    before = torch.get_num_threads()
    with decoding_share(torch.device("cpu"), None) as workers:
        assert workers == 4 and torch.get_num_threads() == 4
    assert torch.get_num_threads() == before


def test_ranks_on_one_machine_split_its_cores_and_one_core_still_decodes(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1})
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    with decoding_share(torch.device("cpu"), None) as workers:
        assert workers == 1 and torch.get_num_threads() == 1


def test_explicit_workers_leave_torch_the_other_cores_and_a_gpu_leaves_threads_alone(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(8)))
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    before = torch.get_num_threads()
    with decoding_share(torch.device("cpu"), 3) as workers:
        assert workers == 3 and torch.get_num_threads() == 5
    with decoding_share(torch.device("cpu"), 8) as workers:  # as many workers as cores: torch keeps one
        assert workers == 8 and torch.get_num_threads() == 1
    with decoding_share(torch.device("cpu"), 0) as workers:  # decoding in this process: every core
        assert workers == 0 and torch.get_num_threads() == 8
    assert torch.get_num_threads() == before
    with decoding_share(torch.device("cuda"), None) as workers:
        assert workers == 2 and torch.get_num_threads() == before


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        ("fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni", True),
        ("fpu sse2 amx_bf16 amx_tile", True),
        ("fpu avx2 avx512f", False),
    ],
)
def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, flags, native):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
    assert cpu_has_native_bf16(cpuinfo) is native
    assert cpu_has_native_bf16(tmp_path / "absent") is False


def test_cpu_autocast_is_bf16_only_when_asked_and_the_cpu_has_it(monkeypatch):
    cpu = torch.device("cpu")
    x = torch.randn(4, 4)
    with autocast(cpu):
        assert (x @ x).dtype == torch.float32
    for native, expected in ((True, torch.bfloat16), (False, torch.float32)):
        monkeypatch.setattr("hiermovie.device.cpu_has_native_bf16", lambda native=native: native)
        with autocast(cpu, cpu_bf16=True):
            assert (x @ x).dtype == expected
