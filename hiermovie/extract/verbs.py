"""VidSitu verbs from the backbone: end-to-end finetuning (paper Table 4) and the linear probe on
frozen pooled features (the quick sanity check of a backbone). Both score with VidSitu's verb
metrics (Acc@1, Acc@5, Rec@5) on the valid split's 10 annotator verbs."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from hiermovie.checkpoint import load_checkpoint
from hiermovie.datasets.vidsitu import EVENTS, VidSituClip, load_vidsitu
from hiermovie.device import autocast, decoding_share, to_device_clips, to_device_model
from hiermovie.distributed import init_distributed, shutdown
from hiermovie.errors import HiermovieError
from hiermovie.extract.augment import normalize, to_float_clips
from hiermovie.extract.backbone import SlowD, create_slow_d
from hiermovie.extract.config import BackboneConfig, VerbFinetuneConfig
from hiermovie.extract.weights import load_pretrained_backbone
from hiermovie.linear_probe import IGNORE, fit_linear_probe, standardizer
from hiermovie.progress import progress_bar
from hiermovie.schedules import cosine_schedule
from hiermovie.training import fit
from hiermovie.verb_metrics import verb_metrics
from hiermovie.video.decode import read_selected
from hiermovie.video.windows import event_clips_frame_indices, vidsitu_windows
from hiermovie.workers import worker_faults, worker_loader

CHECKPOINT_KIND = "verb-finetune"


class EventClips(Dataset):
    """Item i: the 5 event clips of VidSitu clip i, decoded in one call. (5, T, H, W, 3) uint8."""

    def __init__(self, clips: tuple[VidSituClip, ...], config: BackboneConfig):
        self.clips, self.config = clips, config

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, i: int) -> dict:
        c, path = self.config, self.clips[i].video_path
        _, frames = read_selected(
            path,
            lambda info: event_clips_frame_indices(
                vidsitu_windows(), info.fps, c.num_frames, c.sampling_rate, info.num_frames
            ),
            size=c.crop_size,
        )  # (5 * T, S, S, 3)
        return {"clips": torch.from_numpy(frames.reshape(len(EVENTS), c.num_frames, *frames.shape[1:])), "index": i}


def verb_vocabulary(train_clips: tuple[VidSituClip, ...]) -> list[str]:
    """The verbs of the training annotations, sorted (VidSitu's classifier covers the train verbs)."""
    return sorted({verb for clip in train_clips for ev in EVENTS for verb in clip.verb_ids[ev]})


def verb_head(dim: int, num_verbs: int) -> nn.Sequential:
    """VidSitu SFBase's head: Linear(D, D/2) -> ReLU -> Linear(D/2, verbs)."""
    return nn.Sequential(nn.Linear(dim, dim // 2), nn.ReLU(inplace=True), nn.Linear(dim // 2, num_verbs))


class VerbClassifier(nn.Module):
    def __init__(self, *, backbone: SlowD, head: nn.Module):
        super().__init__()
        self.backbone, self.head = backbone, head

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(clips))  # (N, verbs)


def load_backbone(
    config: BackboneConfig, checkpoint: Path | None = None, init: Path | None = None
) -> tuple[BackboneConfig, SlowD]:
    """(config, Slow-D) from a hiermovie checkpoint (whose own config wins), or built from `config`
    and started from released weights (`init`, pytorchvideo or PySlowFast naming), or random."""
    if checkpoint is not None:
        payload = load_checkpoint(checkpoint, ("backbone", CHECKPOINT_KIND))
        fields = payload["config"]
        config = BackboneConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields.items()})
        backbone = create_slow_d(config)
        backbone.load_state_dict(payload["backbone"])
        return config, backbone
    backbone = create_slow_d(config)
    if init is not None:
        load_pretrained_backbone(backbone, init)
    return config, backbone


def _event_labels(clips: tuple[VidSituClip, ...], indices: torch.Tensor, vocab: dict[str, int]) -> torch.Tensor:
    """Per event of each clip: its (first) annotated verb's class, IGNORE if out of vocabulary. (B * 5,)"""
    return torch.tensor([vocab.get(clips[i].verb_ids[ev][0], IGNORE) for i in indices.tolist() for ev in EVENTS])


def _inputs(batch: dict, device: torch.device) -> torch.Tensor:
    frames = batch["clips"].flatten(0, 1).to(device)  # (B * 5, T, H, W, 3) uint8
    return to_device_clips(normalize(to_float_clips(frames)), device)  # (B * 5, 3, T, H, W)


@torch.inference_mode()
def event_outputs(
    module: nn.Module,
    clips: tuple[VidSituClip, ...],
    config: BackboneConfig,
    device: torch.device,
    workers: int = 2,
    progress: bool = False,
) -> torch.Tensor:
    """`module` (a backbone or a verb classifier) on every event clip, in eval mode.

    Shape: (len(clips) * 5, output) float32 on the CPU, events of a clip consecutive.
    """
    module.eval()
    loader = worker_loader(EventClips(clips, config), workers, batch_size=4)
    outputs = []
    with decoding_share(device, workers), worker_faults():  # on CPU, torch threads beside the decoders
        for batch in progress_bar(loader, desc="events", unit="batch", enabled=progress):
            with autocast(device):
                outputs.append(module(_inputs(batch, device)).float().cpu())  # (B * 5, output)
    return torch.cat(outputs)


def top5_verbs(scores: torch.Tensor, vocab: list[str]) -> list[list[list[str]]]:
    """Top-5 verb ids per event, in VidSitu's prediction layout [clip][event][rank], from (N * 5, verbs)."""
    k = min(5, scores.shape[1])
    best = scores.topk(k, dim=1).indices.view(-1, len(EVENTS), k)  # (N, 5, k)
    return [[[vocab[j] for j in event] for event in clip] for clip in best.tolist()]


def score(top5: list, clips: tuple[VidSituClip, ...]) -> dict[str, float]:
    """VidSitu verb metrics of top-5 predictions against the clips' annotator verbs."""
    return verb_metrics(top5, [{ev: clip.verb_ids[ev] for ev in EVENTS} for clip in clips])


@dataclass(frozen=True)
class VerbRunOptions:
    device: str = "auto"
    workers: int = 2
    seed: int = 0
    max_steps: int | None = None
    progress: bool = True


def finetune_verbs(
    backbone_config: BackboneConfig,
    config: VerbFinetuneConfig,
    vidsitu: Path,
    out: Path,
    checkpoint: Path | None = None,
    init: Path | None = None,
    options: VerbRunOptions = VerbRunOptions(),
) -> dict:
    """Finetune backbone + verb head end to end on VidSitu train; score valid after every epoch."""
    dist = init_distributed(options.device)
    try:
        train, valid = (
            load_vidsitu(vidsitu, "train", check_videos=True),
            load_vidsitu(vidsitu, "valid", check_videos=True),
        )
        vocab = verb_vocabulary(train.clips)
        torch.manual_seed(options.seed)
        backbone_config, backbone = load_backbone(backbone_config, checkpoint, init)
        model = to_device_model(
            VerbClassifier(backbone=backbone, head=verb_head(backbone.feature_dim, len(vocab))), dist.device
        )
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.9, 0.99))  # VidSitu: Adam(0.9, 0.99)
        per_rank = max(1, config.batch_size // dist.world_size)
        order = np.arange(len(train.clips))
        steps_per_epoch = len(train.clips) // dist.world_size // per_rank
        if steps_per_epoch == 0:
            raise HiermovieError(f"{vidsitu}: {len(train.clips)} training clips, fewer than one batch")
        total = config.epochs * steps_per_epoch
        schedule = cosine_schedule(config.lr, total, 0, final=config.lr)  # constant (VidSitu)
        dataset, index_of = EventClips(train.clips, backbone_config), {w: i for i, w in enumerate(vocab)}

        def batches(epoch: int, skip: int):
            shuffled = np.random.default_rng([options.seed, epoch]).permutation(order)
            mine = shuffled[dist.rank :: dist.world_size][: steps_per_epoch * per_rank]
            plan = [mine[k * per_rank : (k + 1) * per_rank].tolist() for k in range(steps_per_epoch)][skip:]
            yield from worker_loader(dataset, options.workers, batch_sampler=plan)

        def step(net, batch, index):
            labels = _event_labels(train.clips, batch["index"], index_of).to(dist.device)
            with autocast(dist.device):
                logits = net(_inputs(batch, dist.device)).float()
            return F.cross_entropy(logits, labels, ignore_index=IGNORE), {}

        def epoch_end(epoch: int) -> dict[str, float]:
            logits = event_outputs(model, valid.clips, backbone_config, dist.device, options.workers)  # (N * 5, V)
            return score(top5_verbs(logits, vocab), valid.clips)

        with decoding_share(dist.device, options.workers), worker_faults():  # on CPU, torch beside the decoders
            record = fit(
                model=model,
                optimizer=optimizer,
                lr_schedule=schedule,
                steps_per_epoch=steps_per_epoch,
                stop_step=min(total, options.max_steps or total),
                batches=batches,
                step=step,
                out=out,
                kind=CHECKPOINT_KIND,
                config=backbone_config,
                dist=dist,
                epoch_end=epoch_end,
                extra_state=lambda: {"backbone": model.backbone.state_dict(), "vocab": vocab},
                progress=options.progress,
            )
        if "acc1" not in record:  # stopped mid-epoch (max_steps): score the last weights
            record.update(epoch_end(record.get("epoch", 0)))
        return record
    finally:
        shutdown()


def probe_verbs(
    backbone_config: BackboneConfig,
    config: VerbFinetuneConfig,
    vidsitu: Path,
    checkpoint: Path | None = None,
    init: Path | None = None,
    options: VerbRunOptions = VerbRunOptions(),
) -> dict[str, float]:
    """Linear verb probe: frozen pooled event features of train fit the probe; valid is scored."""
    return probe_backbones(backbone_config, config, vidsitu, {"probe": (checkpoint, init)}, options)["probe"]


class _SideBySide(nn.Module):
    """Several backbones on the same clips, their pooled features concatenated: one decode for all."""

    def __init__(self, backbones: list[SlowD]):
        super().__init__()
        self.backbones = nn.ModuleList(backbones)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        return torch.cat([backbone(clips) for backbone in self.backbones], dim=1)  # (N, sum of D)


def probe_backbones(
    backbone_config: BackboneConfig,
    config: VerbFinetuneConfig,
    vidsitu: Path,
    sources: dict[str, tuple[Path | None, Path | None]],
    options: VerbRunOptions = VerbRunOptions(),
) -> dict[str, dict[str, float]]:
    """`probe_verbs` of every named (checkpoint, init) pair, the event clips decoded once for all of them
    (the demo's random-init and pretrained probes: one pass over the videos, not two). Each backbone is
    built after `torch.manual_seed(options.seed)`, as by `probe_verbs` alone."""
    device = init_distributed(options.device).device
    train, valid = load_vidsitu(vidsitu, "train", check_videos=True), load_vidsitu(vidsitu, "valid", check_videos=True)
    configs, backbones = [], []
    for checkpoint, init in sources.values():
        torch.manual_seed(options.seed)
        loaded_config, backbone = load_backbone(backbone_config, checkpoint, init)
        configs.append(loaded_config)
        backbones.append(backbone)
    clip_shape = {(c.num_frames, c.sampling_rate, c.crop_size) for c in configs}
    if len(clip_shape) > 1:
        raise HiermovieError(f"{', '.join(sources)}: backbones read clips of different sizes; probe them one by one")
    model = to_device_model(_SideBySide(backbones), device)
    train_x, valid_x = (
        event_outputs(model, clips, configs[0], device, options.workers, options.progress)
        for clips in (train.clips, valid.clips)
    )  # (N * 5, sum of D)
    dims = [backbone.feature_dim for backbone in backbones]
    return {
        name: event_probe_metrics(train_part, train.clips, valid_part, valid.clips, config.probe_weight_decay)
        for name, train_part, valid_part in zip(sources, train_x.split(dims, 1), valid_x.split(dims, 1), strict=True)
    }


def event_probe_metrics(
    train_x: torch.Tensor,
    train_clips: tuple[VidSituClip, ...],
    valid_x: torch.Tensor,
    valid_clips: tuple[VidSituClip, ...],
    weight_decay: float,
) -> dict[str, float]:
    """VidSitu verb metrics of a linear probe fit on train event features and applied to valid's.

    Shape: train_x (len(train_clips) * 5, D), valid_x (len(valid_clips) * 5, D), events of a clip consecutive.
    """
    vocab = verb_vocabulary(train_clips)
    mean, std = standardizer(train_x)
    labels = _event_labels(train_clips, torch.arange(len(train_clips)), {w: i for i, w in enumerate(vocab)})
    probe = fit_linear_probe((train_x - mean) / std, labels, len(vocab), weight_decay)
    with torch.no_grad():
        scores = probe((valid_x - mean) / std)  # (N * 5, verbs)
    return score(top5_verbs(scores, vocab), valid_clips)
