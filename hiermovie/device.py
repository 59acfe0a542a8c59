"""Device choice and mixed precision: CPU runs fp32; CUDA runs bf16 autocast with channels-last 3D."""

import contextlib

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


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA; nothing on CPU (bf16 matmuls are slower than fp32 on our CPUs)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def to_device_clips(clips: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Move a (B, C, T, H, W) batch to `device`, channels-last 3D on CUDA."""
    clips = clips.to(device, non_blocking=True)
    if device.type == "cuda":
        clips = clips.contiguous(memory_format=torch.channels_last_3d)
    return clips
