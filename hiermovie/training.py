"""The one training loop every stage uses: per-step learning rates from a precomputed schedule,
data-parallel under torchrun, a JSONL log with the same scalars in TensorBoard event files (RUN/tensorboard)
and a loss curve (redrawn every minute and at the end), atomic checkpoints, resume from the last checkpoint,
and a clear stop when the loss stops being finite."""

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from hiermovie.checkpoint import load_checkpoint, save_checkpoint
from hiermovie.distributed import Distributed, all_reduce_mean, barrier, replicas_in_sync
from hiermovie.errors import HiermovieError
from hiermovie.profiles import config_dict
from hiermovie.progress import progress_bar
from hiermovie.runlog import RunLog, plot_losses

StepFn = Callable[[nn.Module, dict, int], tuple[torch.Tensor, dict[str, float]]]
PLOT_INTERVAL = 60.0  # seconds between two redraws of loss.png while training; always drawn at the end


def resume_step(path: Path, kind: str, config: object, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    """Restore model and optimiser from `path` if it exists and was written with `config`; its step."""
    if not path.is_file():
        return 0
    payload = load_checkpoint(path, kind)
    saved, wanted = (json.loads(json.dumps(c)) for c in (payload["config"], config_dict(config)))  # tuples as lists
    if saved != wanted:
        changed = sorted(k for k in wanted if saved.get(k) != wanted[k])
        raise HiermovieError(
            f"{path}: written with another config (differs in {', '.join(changed)}); use a new --out or delete it"
        )
    model.load_state_dict(payload["model"])
    optimizer.load_state_dict(payload["optimizer"])
    return int(payload["step"])


def fit(
    *,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    lr_schedule: np.ndarray,
    steps_per_epoch: int,
    stop_step: int,
    batches: Callable[[int, int], Iterable[dict]],
    step: StepFn,
    out: Path,
    kind: str,
    config: object,
    dist: Distributed,
    checkpoint_every: int = 50,
    extra_state: Callable[[], dict] = dict,
    epoch_end: Callable[[int], dict[str, float]] | None = None,
    progress: bool = True,
    chance_loss: float | None = None,
) -> dict:
    """Train `model` until `stop_step`, resuming from `out/checkpoint.pt`; returns the last log record.

    `batches(epoch, skip)` yields this rank's batches of an epoch from its `skip`-th on (so a resumed
    run continues mid-epoch); `step(model, batch, step)` returns (loss, terms to log); `chance_loss`,
    where given, is logged with every step and drawn into the loss plot.
    """
    checkpoint = Path(out) / "checkpoint.pt"
    start = resume_step(checkpoint, kind, config, model, optimizer)
    trained = DistributedDataParallel(model) if dist.world_size > 1 else model
    log = RunLog(Path(out) / "log.jsonl", start, tensorboard=Path(out) / "tensorboard") if dist.is_main else None
    bar = progress_bar(total=stop_step, initial=start, desc=kind, unit="step", enabled=progress and dist.is_main)
    record: dict = {"step": start}
    current = start
    plotted = time.perf_counter()

    def save() -> None:
        nonlocal plotted
        if dist.is_main:
            log.flush()  # the event files hold every step the checkpoint holds
            state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), **extra_state()}
            save_checkpoint(checkpoint, kind=kind, config=config, step=current, **state)
            if current == stop_step or time.perf_counter() - plotted > PLOT_INTERVAL:  # a plot costs ~0.3 s
                plot_losses(log.path, Path(out) / "loss.png", title=f"{kind}: {Path(out).name}", chance=chance_loss)
                plotted = time.perf_counter()
        barrier()

    try:
        while current < stop_step:
            epoch, skip = divmod(current, steps_per_epoch)
            for batch in batches(epoch, skip):
                for group in optimizer.param_groups:
                    group["lr"] = float(lr_schedule[current])
                started = time.perf_counter()
                trained.train()
                loss, terms = step(trained, batch, current)
                if not torch.isfinite(loss):
                    where = f"the last good checkpoint is {checkpoint}" if checkpoint.is_file() else "no checkpoint yet"
                    raise HiermovieError(f"loss is {loss.item()} at step {current + 1}; training stopped ({where})")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                current += 1
                record = {
                    "step": current,
                    "epoch": epoch,
                    "loss": all_reduce_mean(loss.item(), dist.device),
                    "lr": float(lr_schedule[current - 1]),
                    "seconds": round(time.perf_counter() - started, 4),
                    **terms,
                    **({} if chance_loss is None else {"chance_loss": chance_loss}),
                }
                if current % steps_per_epoch == 0 and epoch_end is not None:
                    record.update(epoch_end(epoch))
                if log is not None:
                    log.write(**record)
                bar.update(1)
                bar.set_postfix(loss=f"{record['loss']:.4f}")
                if current % checkpoint_every == 0 or current % steps_per_epoch == 0 or current == stop_step:
                    save()
                if current >= stop_step:
                    break
        bar.close()
        if dist.world_size > 1:
            record["replicas_in_sync"] = replicas_in_sync(model)
            if log is not None:
                log.write(step=current, replicas_in_sync=record["replicas_in_sync"])
    finally:
        if log is not None:
            log.close()
    return record
