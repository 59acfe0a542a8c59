"""Data parallelism under torchrun: process-group setup and the few collectives training needs.

Outside torchrun everything degrades to a single process (world size 1) with no process group.
"""

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch.distributed.nn.functional import all_gather as all_gather_with_grad

from hiermovie.device import resolve_device


@dataclass(frozen=True)
class Distributed:
    rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_name: str = "auto") -> Distributed:
    """Join torchrun's process group (nccl on CUDA, gloo on CPU), or run as a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name, local_rank)
    if world_size > 1 and not dist.is_initialized():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return Distributed(rank, world_size, device)


def gather_rows(local: torch.Tensor) -> tuple[torch.Tensor, int]:
    """All ranks' rows stacked in rank order, and where this rank's rows start.

    Shape: (B, D) -> (world * B, D). The gather is autograd-aware: its backward sums over ranks the
    gradient every rank's loss sends to these rows, so other ranks' queries reach this rank's batch
    (CVRL's cross-replica concat) and DDP's mean over ranks is the gradient of the global batch's mean
    loss. Inputs without gradient (queue keys) gather as plain values.
    """
    if not dist.is_initialized() or dist.get_world_size() == 1:
        return local, 0
    gathered = all_gather_with_grad(local)  # world x (B, D)
    return torch.cat(gathered), dist.get_rank() * local.shape[0]


def all_reduce_mean(value: float, device: torch.device) -> float:
    """The mean of a scalar over ranks (for logging)."""
    if not dist.is_initialized():
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / dist.get_world_size()


def replicas_in_sync(model: torch.nn.Module) -> bool:
    """Whether every rank holds exactly the same parameters (compares float64 checksums).

    Buffers are left out: BatchNorm statistics of the last forward differ per rank until DDP
    broadcasts rank 0's at the next forward, and rank 0's are the ones checkpointed."""
    if not dist.is_initialized():
        return True
    tensors = [t.detach().double() for t in model.parameters()]
    checksum = torch.stack([t.sum() for t in tensors] + [t.abs().sum() for t in tensors])  # (2 * tensors,)
    gathered = [torch.empty_like(checksum) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, checksum)
    return all(torch.equal(gathered[0], other) for other in gathered[1:])


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()


def shutdown() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
