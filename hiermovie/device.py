"""Device choice and mixed precision: CUDA runs bf16 autocast with channels-last 3D; CPUs run fp32, or bf16
autocast where a caller asks for it and the CPU has bf16 instructions."""

import contextlib
import functools
import os
import re
from collections.abc import Iterator
from pathlib import Path

import torch

from hiermovie.errors import HiermovieError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """`auto` picks CUDA when present; asking for CUDA on a machine without it is a user error."""
    if name not in DEVICES:
        raise HiermovieError(f"unknown device {name!r}; choose one of: {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise HiermovieError("--device cuda: no CUDA device is available on this machine")
    if name == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", local_rank)


@functools.cache
def cpu_has_native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether this CPU has bf16 instructions (AVX-512 BF16 or AMX). With them a tiny Slow-D training step
    runs 1.3-1.6x faster under bf16 autocast (`bench/bench_tiny_recipe.py`); without them (e.g. AVX2) bf16
    is emulated and slower than fp32 (platform notes: 36-47 against 83-112 GFLOP/s)."""
    try:
        return re.search(r"\b(avx512_bf16|amx_bf16)\b", cpuinfo.read_text()) is not None
    except OSError:
        return False


def autocast(device: torch.device, cpu_bf16: bool = False) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA; on a CPU only with `cpu_bf16` and native bf16 there, else nothing (fp32)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    if cpu_bf16 and cpu_has_native_bf16():
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device_clips(clips: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move a (B, C, T, H, W) batch to `device`, channels-last 3D (as `to_device_model`'s convolutions)."""
    return clips.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last_3d)


def to_device_model(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """Move a video model to `device` with its 3D convolution weights channels-last: faster on CUDA and on
    our CPUs too (tiny Slow-D training step 1.3x, docs/performance.md)."""
    return model.to(device).to(memory_format=torch.channels_last_3d)


def cpu_cores() -> int:
    """The CPU cores of this rank: those this process may run on, shared by the ranks of the machine."""
    return max(1, len(os.sched_getaffinity(0)) // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


@contextlib.contextmanager
def decoding_share(device: torch.device, workers: int | None) -> Iterator[int]:
    """The number of decoding workers for a run that decodes video beside torch; on CPU, torch gets the
    cores of this rank the workers leave (at least 1 thread; its thread count restored afterwards), and
    `workers` None splits the cores: half decode (at least 1), the rest run torch.

    On 2 cores, 1 worker beside 1 torch thread makes 1.4x the training steps/s of 2 workers beside 2
    threads, which fought over the cores (docs/performance.md "Backbone pretraining"); tiny extraction with 2 workers
    beside 1 thread makes 1.5-1.7x the events/s of 2 beside 2 ("Performance"). On CUDA None means 2 workers."""
    if device.type != "cpu":
        yield 2 if workers is None else workers
        return
    cores = cpu_cores()
    decoding = max(1, cores // 2) if workers is None else workers
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, cores - decoding))
    try:
        yield decoding
    finally:
        torch.set_num_threads(threads)
