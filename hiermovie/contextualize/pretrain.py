"""`hiermovie txe pretrain`: event mask prediction (paper sec. 3.3) from the cache alone.

A span of m tokens of each window (m uniform over the mask-size set, start uniform, or the span of
largest discrepancy) is replaced by [MASK]; the TxE output at each masked position must pick out its
own token's stop-gradient target among K distractors of a FIFO queue (Eq. 1, tau 0.1), or approach it
in L2 (Table 2). Targets are the input projection's image of the true token, L2-normalised: by
default an EMA copy of the projection (m = 0.999, like MoCo's key encoder: the live projection
drifts with every step, which makes the queue's keys stale), or the live projection (`target=live`).
Output: RUN/checkpoint.pt (kind "txe"), RUN/log.jsonl, RUN/loss.png, RUN/summary.json with the
masked-event retrieval of the validation videos, RUN/tensorboard/ with the scalars of the log and, at the
end, the contextualized outputs of up to 1000 validation tokens for the embedding projector.
"""

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hiermovie.cache import EventCache
from hiermovie.contextualize.config import TxEConfig
from hiermovie.contextualize.data import TokenWindows, VideoChoice, VideoSelection, select_videos, split_windows
from hiermovie.contextualize.losses import mask_l2_loss, mask_nce_loss
from hiermovie.contextualize.masking import (
    mask_size_set,
    max_discrepancy_masks,
    single_token_masks,
    token_discrepancy,
    uniform_span_masks,
)
from hiermovie.contextualize.model import TxE, create_txe, eval_mode
from hiermovie.contextualize.queue import NegativeQueue
from hiermovie.contextualize.retrieval import masked_event_retrieval
from hiermovie.device import autocast
from hiermovie.distributed import gather_rows, init_distributed, shutdown
from hiermovie.errors import HiermovieError
from hiermovie.schedules import cosine_schedule
from hiermovie.tensorboard_log import EventLog, available, embedding_points
from hiermovie.training import fit

CHECKPOINT_KIND = "txe"
LOSSES = ("contrastive", "l2")
MASK_SAMPLINGS = ("uniform", "max_discrepancy")
TARGETS = ("ema", "live")


class MaskPrediction(nn.Module):
    """TxE + its stop-gradient target projection + the queue of distractors."""

    def __init__(self, *, txe: TxE, queue: NegativeQueue, config: TxEConfig):
        super().__init__()
        self.txe, self.queue, self.config = txe, queue, config
        self.target_projection = copy.deepcopy(txe.input_proj).requires_grad_(False) if config.target == "ema" else None

    def target_projection_module(self) -> nn.Linear:
        """The projection the targets come from: the EMA copy, or the live input projection (`target=live`)."""
        return self.target_projection or self.txe.input_proj

    @torch.no_grad()
    def targets(self, features: torch.Tensor) -> torch.Tensor:
        """Stop-gradient targets of every token. (B, N, D) -> (B, N, H), L2-normalised."""
        return F.normalize(self.target_projection_module()(features), dim=-1)

    @torch.no_grad()
    def update_ema(self) -> None:
        if self.target_projection is not None:
            m = self.config.ema_momentum
            for target, live in zip(self.target_projection.parameters(), self.txe.input_proj.parameters(), strict=True):
                target.mul_(m).add_(live.detach(), alpha=1 - m)

    def forward(self, features: torch.Tensor, video: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, dict]:
        outputs = self.txe(features, mask)[mask]  # (M, H), M masked positions
        targets = self.targets(features)  # (B, N, H)
        positives = targets[mask]  # (M, H)
        if self.config.loss == "l2":
            loss = mask_l2_loss(outputs, positives)
        else:
            keys, key_video = self.queue()  # (K, H), (K,)
            same = self.config.exclude_same_video
            query_video = video[:, None].expand_as(mask)[mask] if same else None  # (M,)
            if self.config.hard_negatives:  # each query's k most similar distractors (FAISS index of the queue)
                chosen = self.queue.hard_negatives(
                    outputs.detach().float(), self.config.hard_negatives, query_video=query_video
                )  # (M, k)
                keys, key_video = keys[chosen], key_video[chosen]  # (M, k, H), (M, k)
            # empty queue slots (video id -1) are never distractors; same-video ones only when asked
            loss = mask_nce_loss(outputs, positives, keys, self.config.temperature, query_video, key_video)
        if self.training:  # every token's target joins the queue, from every rank (after the loss)
            flat = targets.flatten(0, 1)  # (B * N, H)
            self.queue.enqueue(gather_rows(flat)[0], gather_rows(video.repeat_interleave(mask.shape[1]))[0])
        return loss, {"masked": int(mask.sum())}


@torch.no_grad()
def discrepancy(txe: TxE, features: torch.Tensor) -> torch.Tensor:
    """How much each token's output changes when that token alone is masked (max-discrepancy sampling). (B, N)

    In eval mode (the caller's mode is restored): with dropout on, the unmasked and single-masked passes
    would draw independent dropout, and the choice of span would follow the noise, not the model (Table 2).
    """
    batch, n = features.shape[:2]
    with eval_mode(txe):
        single = txe(features.repeat_interleave(n, dim=0), single_token_masks(batch, n, device=features.device))
        return token_discrepancy(txe(features), single)  # (B*N, N, H) -> (B, N)


@dataclass(frozen=True)
class TxEOptions:
    device: str = "auto"
    seed: int = 0
    val_fraction: float = 0.1  # share of source videos held out for the retrieval metric (hash of the id)
    videos: VideoChoice = VideoChoice()  # what to pretrain on (paper: the train split); default every video
    max_steps: int | None = None
    checkpoint_every: int = 100
    progress: bool = True


def check_config(config: TxEConfig, cache: EventCache) -> tuple[int, ...]:
    """Refuse a config that cannot run on this cache; the mask-size set."""
    if cache.dim != config.input_dim:
        raise HiermovieError(
            f"{cache.root}: features are {cache.dim}-d, the TxE config expects {config.input_dim} (another --profile?)"
        )
    for name, value, allowed in (
        ("loss", config.loss, LOSSES),
        ("mask sampling", config.mask_sampling, MASK_SAMPLINGS),
        ("target", config.target, TARGETS),
    ):
        if value not in allowed:
            raise HiermovieError(f"unknown {name} {value!r}; choose one of: {', '.join(allowed)}")
    try:
        return mask_size_set(config.seq_len, config.mask_alpha, tuple(config.mask_sizes))
    except ValueError as error:
        raise HiermovieError(str(error)) from None


def pretrain_txe(config: TxEConfig, cache_path: Path, out: Path, options: TxEOptions = TxEOptions()) -> dict:
    """Pretrain TxE by event mask prediction on the cache; returns the summary (loss, retrieval)."""
    dist = init_distributed(options.device)
    try:
        with EventCache(cache_path) as cache:
            sizes = check_config(config, cache)
            selection = select_videos(cache, options.videos)
            windows = split_windows(cache, selection.video_ids, config.seq_len, config.stride_sec, options.val_fraction)
        if dist.is_main and options.progress:
            print(f"txe pretrain: {selection.description}", flush=True)
        return _pretrain(config, sizes, *windows, selection, Path(out), options, dist)
    finally:
        shutdown()


def _pretrain(
    config, sizes, train: TokenWindows, valid: TokenWindows, selection: VideoSelection, out: Path, options, dist
) -> dict:
    per_rank = max(1, config.batch_size // dist.world_size)
    steps_per_epoch = len(train) // dist.world_size // per_rank
    if steps_per_epoch == 0:
        raise HiermovieError(f"{len(train)} training windows: fewer than one batch of {config.batch_size}")
    torch.manual_seed(options.seed)
    model = MaskPrediction(
        txe=create_txe(config), queue=NegativeQueue(config.queue_size, config.hidden_dim), config=config
    ).to(dist.device)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=config.lr, weight_decay=0.01)
    total = config.epochs * steps_per_epoch
    schedule = cosine_schedule(config.lr, total, warmup_steps=max(1, total // 20))
    features, video = torch.from_numpy(train.features), torch.from_numpy(train.video)

    def batches(epoch: int, skip: int):
        order = np.random.default_rng([options.seed, epoch]).permutation(len(train))
        mine = order[dist.rank :: dist.world_size][: steps_per_epoch * per_rank]
        for k in range(skip, steps_per_epoch):
            rows = torch.from_numpy(mine[k * per_rank : (k + 1) * per_rank])
            yield {"features": features[rows], "video": video[rows]}

    def step(net, batch, index):
        step_seed = options.seed * 1_000_003 + index * 1009 + dist.rank
        generator = torch.Generator().manual_seed(step_seed)  # masks
        torch.manual_seed(step_seed)  # dropout: a function of the step too, so a resumed run repeats it
        x, v = batch["features"].to(dist.device), batch["video"].to(dist.device)
        if config.mask_sampling == "max_discrepancy":
            mask = max_discrepancy_masks(discrepancy(model.txe, x).cpu(), sizes, generator).to(dist.device)
        else:
            mask = uniform_span_masks(len(x), config.seq_len, sizes, generator).to(dist.device)
        model.update_ema()
        with autocast(dist.device):
            return net(x, v, mask)

    def epoch_end(epoch: int) -> dict[str, float]:
        return evaluate(model.txe, valid, model.targets, dist.device)

    record = fit(
        model=model,
        optimizer=optimizer,
        lr_schedule=schedule,
        steps_per_epoch=steps_per_epoch,
        stop_step=total if options.max_steps is None else min(total, options.max_steps),
        batches=batches,
        step=step,
        out=out,
        kind=CHECKPOINT_KIND,
        config=config,
        dist=dist,
        checkpoint_every=options.checkpoint_every,
        extra_state=lambda: {
            "txe": model.txe.state_dict(),
            "target_projection": model.target_projection_module().state_dict(),  # what retrieval ranks against
            "pretrained_on": selection.description,
        },
        epoch_end=epoch_end,
        progress=options.progress,
    )
    summary = {
        **record,
        **evaluate(model.txe, valid, model.targets, dist.device),
        "pretrained_on": selection.description,
        "train_windows": len(train),
        "val_windows": len(valid),
        "train_sources": len(train.sources),
        "val_sources": len(valid.sources),
        "checkpoint": str(out / "checkpoint.pt"),
    }
    if dist.is_main:
        if len(valid) and available():
            with EventLog(out / "tensorboard") as events:
                events.embedding(*token_sample(model.txe, valid, dist.device), step=record["step"], tag="tokens")
        (out / "summary.json").write_text(json.dumps(summary, indent=1))  # written last: the run is complete
    return summary


@torch.no_grad()
def token_sample(txe: TxE, valid: TokenWindows, device: torch.device) -> tuple[torch.Tensor, list[str]]:
    """The contextualized outputs (P, H) of validation tokens from windows spread over `valid` and each token's
    video id: what the embedding projector shows (P at most `embedding_points(H)`, cheap to write)."""
    points = embedding_points(txe.input_proj.out_features)
    n = valid.features.shape[1]
    windows = np.unique(np.linspace(0, len(valid) - 1, -(-points // n)).round().astype(int))  # (W',)
    with eval_mode(txe):
        outputs = txe(torch.from_numpy(valid.features[windows]).to(device))  # (W', N, H)
    videos = [valid.sources[v] for v in valid.video[windows].tolist() for _ in range(n)]  # one per token
    return outputs.flatten(0, 1)[:points], videos[:points]


def evaluate(txe: TxE, valid: TokenWindows, targets, device: torch.device) -> dict[str, float]:
    """Masked-event retrieval on the validation windows (R@1, R@5, median rank); eval mode, as retrieval runs."""
    metrics = masked_event_retrieval(txe, valid.features, target_projection=lambda x: targets(x.to(device)))
    return {k: metrics[k] for k in ("r1", "r5", "median_rank")}
