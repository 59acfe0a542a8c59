"""`hiermovie backbone pretrain`: CVRL, MoDist or supervised pretraining of Slow-D on a folder of
videos, data-parallel under torchrun, resumable. Output: RUN/checkpoint.pt (kind "backbone"),
RUN/log.jsonl, RUN/tensorboard/, RUN/loss.png, RUN/skipped.txt (videos that could not be read) and, once the run is
complete, RUN/summary.json."""

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from hiermovie.datasets.video_folder import label_names, load_video_folder
from hiermovie.device import autocast, cpu_cores, decoding_share, to_device_clips, to_device_model
from hiermovie.distributed import init_distributed, shutdown
from hiermovie.errors import HiermovieError
from hiermovie.extract.augment import crop_view, cvrl_view, normalize, random_flip, resize_flow, to_float_clips
from hiermovie.extract.config import BackboneConfig
from hiermovie.extract.data import ClipSampling, VideoClips, collate_clips, decode_into_memory, epoch_batches
from hiermovie.extract.methods import METHODS, MoDist, backbone_of, build_method, chance_loss
from hiermovie.extract.motion import MOTION_INPUTS, grey_differences
from hiermovie.extract.weights import load_pretrained_backbone
from hiermovie.schedules import cosine_schedule
from hiermovie.training import fit
from hiermovie.workers import worker_faults, worker_loader

CHECKPOINT_KIND = "backbone"


@dataclass(frozen=True)
class PretrainOptions:
    """How to run a pretraining (what does not change the model: not part of the config)."""

    device: str = "auto"
    workers: int | None = None  # decoding processes per rank; None: on CPU half the cores, on CUDA 2
    seed: int = 0
    strict: bool = False  # fail on an unreadable video instead of skipping it
    max_steps: int | None = None  # stop early; the schedule still spans config.epochs
    flow_dir: Path | None = None  # {video stem}.npy flow files for MoDist with motion_input "flow_files"
    init: Path | None = None  # released weights (pytorchvideo or PySlowFast naming) to start from
    checkpoint_every: int = 50
    # decode every video once into memory when all frames at the training size fit in this many GiB (single
    # process, --workers unset); later epochs then index frames and every core computes. 0: always decode
    memory_gib: float = 4.0
    # bf16 autocast on a CPU with bf16 instructions (device.cpu_has_native_bf16; fp32 elsewhere); losses stay fp32
    cpu_bf16: bool = True
    # called with (epoch, the Slow-D) after each epoch; what it returns joins that step's log record
    epoch_end: Callable[[int, torch.nn.Module], dict] | None = None
    progress: bool = True


def pretrain(config: BackboneConfig, data: Path, out: Path, options: PretrainOptions = PretrainOptions()) -> dict:
    """Pretrain a Slow-D with `config.method` on the videos of `data` (a class-folder tree or a list)."""
    if config.method not in METHODS:
        raise HiermovieError(f"unknown method {config.method!r}; choose one of: {', '.join(METHODS)}")
    if config.motion_input not in MOTION_INPUTS:
        raise HiermovieError(f"unknown motion input {config.motion_input!r}; choose one of: {', '.join(MOTION_INPUTS)}")
    if config.method == "modist" and config.motion_input == "flow_files" and options.flow_dir is None:
        raise HiermovieError("--motion flow_files needs --flow-dir")
    dist = init_distributed(options.device)
    try:
        if options.workers is None and dist.world_size == 1 and options.memory_gib > 0:
            in_memory = decode_into_memory(
                load_video_folder(Path(data)),
                config.crop_size,
                cpu_cores(),
                int(options.memory_gib * 2**30),
                options.progress,
            )
            if in_memory is not None:  # every core computes; nothing left to decode in workers
                return _pretrain(config, Path(data), Path(out), replace(options, workers=0), dist, in_memory)
        with decoding_share(dist.device, options.workers) as workers, worker_faults():
            return _pretrain(config, Path(data), Path(out), replace(options, workers=workers), dist)
    finally:
        shutdown()


def _pretrain(config, data, out, options, dist, in_memory=None) -> dict:
    videos = load_video_folder(data)
    if config.batch_size % dist.world_size:
        raise HiermovieError(f"batch size {config.batch_size} is not divisible by {dist.world_size} processes")
    per_rank = config.batch_size // dist.world_size
    if len(videos) < config.batch_size:
        raise HiermovieError(f"{data}: {len(videos)} videos, fewer than one batch of {config.batch_size}")
    torch.manual_seed(options.seed)  # identical initial weights on every rank
    method = build_method(config, num_classes=len(label_names(videos)))
    if options.init is not None:
        load_pretrained_backbone(backbone_of(method), options.init)
        if isinstance(method, MoDist):
            method.update_momentum(0.0)  # the key encoders start as copies of the loaded weights
    method = to_device_model(method, dist.device)
    trainable = [p for p in method.parameters() if p.requires_grad]
    optimizer = make_optimizer(config, trainable)
    steps_per_epoch = len(epoch_batches(len(videos), per_rank, options.seed, 0, dist.rank, dist.world_size))
    total = config.epochs * steps_per_epoch
    schedule = cosine_schedule(config.lr, total, warmup_steps=max(1, total // 40))  # CVRL: 1787 of 71488 warmup
    sampling = ClipSampling(
        config.num_frames,
        config.sampling_rate,
        config.crop_size,
        views=1 if config.method == "supervised" else 2,
        motion=config.motion_input if config.method == "modist" else "grey_diff",
        flow_dir=options.flow_dir,
    )
    dataset = VideoClips(videos, sampling, seed=options.seed, strict=options.strict, in_memory=in_memory)
    skipped: set[str] = set()

    def batches(epoch: int, skip: int):
        dataset.epoch = epoch
        plan = epoch_batches(len(videos), per_rank, options.seed, epoch, dist.rank, dist.world_size)[skip:]
        loader = worker_loader(dataset, options.workers, batch_sampler=plan, collate_fn=collate_clips)
        for batch in loader:
            if options.strict and batch["skipped"]:
                raise HiermovieError(f"{batch['skipped'][0]} (--strict)")
            skipped.update(batch["skipped"])
            yield batch

    def step(model, batch, index):
        # augmentation randomness is a function of (seed, step, rank): a resumed run repeats it
        generator = torch.Generator(dist.device).manual_seed(options.seed * 1_000_003 + index * 1009 + dist.rank)
        if isinstance(method, MoDist):
            method.update_momentum(config.momentum)
        with autocast(dist.device, options.cpu_bf16):
            return model(*make_views(batch, config, generator, dist.device))

    chance = chance_loss(config, len(label_names(videos)))
    record = fit(
        model=method,
        optimizer=optimizer,
        lr_schedule=schedule,
        steps_per_epoch=steps_per_epoch,
        stop_step=min(total, options.max_steps or total),
        batches=batches,
        step=step,
        out=out,
        kind=CHECKPOINT_KIND,
        config=config,
        dist=dist,
        checkpoint_every=options.checkpoint_every,
        extra_state=lambda: {"backbone": backbone_of(method).state_dict(), "label_names": label_names(videos)},
        progress=options.progress,
        chance_loss=chance,
        epoch_end=None if options.epoch_end is None else lambda epoch: options.epoch_end(epoch, backbone_of(method)),
    )
    if "loss" not in record and (out / "summary.json").is_file():  # a finished run, reused: its summary stands
        return json.loads((out / "summary.json").read_text())
    summary = {
        **record,
        "chance_loss": chance,
        "skipped": len(skipped),
        "decoded_into_memory": in_memory is not None,
        "checkpoint": str(out / "checkpoint.pt"),
    }
    if dist.is_main:
        (out / "skipped.txt").write_text("".join(f"{problem}\n" for problem in sorted(skipped)))
        (out / "summary.json").write_text(json.dumps(summary, indent=1))  # written last: the run is complete
    return summary


def make_optimizer(config: BackboneConfig, parameters: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
    """`config.optimizer`: "sgd" is CVRL's (momentum 0.9, weight decay 1e-6), "adam" plain Adam."""
    if config.optimizer == "sgd":
        return torch.optim.SGD(parameters, lr=config.lr, momentum=0.9, weight_decay=1e-6)
    if config.optimizer == "adam":
        return torch.optim.Adam(parameters, lr=config.lr)
    raise HiermovieError(f"unknown optimizer {config.optimizer!r}; choose sgd or adam")


def flip_probability(config: BackboneConfig) -> float:
    """Chance that a clip is mirrored: CVRL's 0.5, or 0 with `config.flip` off."""
    return 0.5 if config.flip else 0.0


def make_views(batch: dict, config: BackboneConfig, generator: torch.Generator, device: torch.device) -> tuple:
    """The method's inputs from a decoded batch, augmented on `device` with per-clip parameters:
    CVRL (view_a, view_b); MoDist (query view, key view, query motion, key motion, key order);
    supervised (view, labels). The two views draw their augmentations independently."""
    frames = batch["clips"].to(device)  # (B, V, T, H, W, 3) uint8
    views = frames.shape[1]
    clips = [to_float_clips(frames[:, v]) for v in range(views)]  # V x (B, 3, T, H, W) in [0, 1]
    flip_p = flip_probability(config)
    if config.method == "supervised":
        view = random_flip(crop_view(clips[0], config.crop_size, config.crop_area, generator), flip_p, generator)
        return to_device_clips(normalize(view), device), batch["labels"].to(device)
    augmented, motions = [], []
    for v, clip in enumerate(clips):
        replay = torch.Generator(device).set_state(generator.get_state())  # same crop and flip for the motion
        view = cvrl_view(clip, config.crop_size, v + 1, generator, config.color_strength, config.crop_area, config.flip)
        augmented.append(to_device_clips(normalize(view), device))
        if config.method == "modist":
            motions.append(to_device_clips(_motion_input(batch, v, clip, replay, config, device), device))
    if config.method == "cvrl":  # symmetric loss: both views are queries
        return tuple(augmented)
    # MoDist's loss is one-way (query -> key) and CVRL's two view policies differ (view 1 always blurred,
    # view 2 sharp or solarised): each clip draws which view is its query, so the kept query network trains
    # on both; then the order the key encoders see the batch in (shuffled BN)
    swap = torch.rand(clips[0].shape[0], generator=generator, device=device) < 0.5  # (B,)
    query, key = swapped(augmented[0], augmented[1], swap)
    motion_query, motion_key = swapped(motions[0], motions[1], swap)
    key_order = torch.randperm(clips[0].shape[0], generator=generator, device=device)  # (B,)
    return query, key, motion_query, motion_key, key_order


def swapped(a: torch.Tensor, b: torch.Tensor, swap: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(a, b) with the rows where `swap` (B,) is True exchanged between them. Shape: (B, ...) each."""
    mask = swap.view(-1, *([1] * (a.dim() - 1)))  # (B, 1, ...)
    return torch.where(mask, b, a), torch.where(mask, a, b)


def _motion_input(batch, v, clip, replay, config, device) -> torch.Tensor:
    """MoDist's colourless motion clip for view `v`, with the view's own crop and flip (replayed from the
    generator state the view started from) but none of its colour augmentation: grey differences of the
    un-jittered clip, or the decoded flow (vectors rescaled by the crop, dx negated by a flip)."""
    flip_p = flip_probability(config)
    if "flow" not in batch:
        geometry = random_flip(crop_view(clip, config.crop_size, config.crop_area, replay), flip_p, replay)
        return grey_differences(geometry)  # (B, 1, T, S, S)
    flow = batch["flow"][:, v].to(device).permute(0, 4, 1, 2, 3).float()  # (B, 3, T, h, w)
    decoded = tuple(batch["clips"].shape[3:5])  # (H, W) of the RGB frames the crop was drawn for
    if tuple(flow.shape[-2:]) != decoded:
        flow = resize_flow(flow, decoded)  # (B, 3, T, H, W)
    cropped = crop_view(flow, config.crop_size, config.crop_area, replay, flow=True)
    return random_flip(cropped, flip_p, replay, flow=True)  # (B, 3, T, S, S)
