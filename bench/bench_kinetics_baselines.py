"""Verb accuracy on the benchmark's Kinetics-style val clips and VidSitu valid events: hand-made
floors against a backbone.

Rows, scored on the centre 64 frames of every Kinetics-style val clip (trained on the train clips) and
on the 64 frames of every VidSitu valid event (a linear probe fit on the train events, VidSitu's verb
metrics, as `hiermovie backbone probe` scores a backbone):
- motion energy + linear: |differences| of 16 grey frames (every 4th) on an 8 x 8 grid, a logistic
  regression on them (`hiermovie.datasets.synth.baselines.motion_energy`);
- still appearance + linear: the first frame as a 16 x 16 thumbnail (what a verb must not be read from);
- with `--backbone` (a checkpoint of `hiermovie backbone pretrain`, any method; several may be given):
  a logistic regression on its frozen pooled features and, for a supervised one, its own classifier.

    python bench/bench_kinetics_baselines.py --benchmark runs/demo/data [--backbone RUN/checkpoint.pt]
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from hiermovie.checkpoint import load_checkpoint
from hiermovie.datasets.synth.baselines import motion_energy, still_appearance
from hiermovie.datasets.video_folder import label_names, load_video_folder
from hiermovie.datasets.vidsitu import VidSituClip, load_vidsitu
from hiermovie.extract.augment import normalize, to_float_clips
from hiermovie.extract.config import BackboneConfig, VerbFinetuneConfig
from hiermovie.extract.methods import backbone_of, build_method
from hiermovie.extract.verbs import EventClips, event_outputs, event_probe_metrics
from hiermovie.linear_probe import probe_accuracy
from hiermovie.video.decode import probe_video, read_frames

SPAN = 64  # frames: the backbone clip's span (16 x 4 and 8 x 8 alike)
HAND_MADE = {"motion energy + linear": motion_energy, "still appearance + linear": still_appearance}
PROBE_WEIGHT_DECAY = VerbFinetuneConfig().probe_weight_decay


def centre_frames(paths: list[Path], step: int, size: int) -> np.ndarray:
    """Every `step`-th frame of the centre SPAN frames of each video. (N, SPAN / step, size, size, 3) uint8."""
    clips = []
    for path in paths:
        start = max(0, (probe_video(path).num_frames - SPAN) // 2)
        clips.append(read_frames(path, start + np.arange(0, SPAN, step), size=size))
    return np.stack(clips)


def kinetics_split(benchmark: Path, split: str, step: int, size: int) -> tuple[np.ndarray, torch.Tensor]:
    """`centre_frames` of every clip of a Kinetics-style split, (N, SPAN / step, size, size, 3), and labels (N,)."""
    videos = load_video_folder(benchmark / "kinetics" / split)
    return centre_frames([v.path for v in videos], step, size), torch.tensor([v.label for v in videos])


def linear_accuracy(train: np.ndarray, train_y: torch.Tensor, val: np.ndarray, val_y: torch.Tensor) -> float:
    """Val accuracy of a logistic regression on standardised features."""
    x, v = torch.as_tensor(train, dtype=torch.float32), torch.as_tensor(val, dtype=torch.float32)
    return probe_accuracy(x, train_y, v, val_y)


def load_trained_backbone(checkpoint: Path):
    """(config, method, backbone) of a `hiermovie backbone pretrain` checkpoint, in eval mode."""
    payload = load_checkpoint(checkpoint, "backbone")
    config = BackboneConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in payload["config"].items()})
    method = build_method(config, num_classes=len(payload["label_names"]))
    method.load_state_dict(payload["model"])
    method.eval()
    return config, method, backbone_of(method)


@torch.inference_mode()
def pooled_features(backbone: torch.nn.Module, frames: torch.Tensor) -> torch.Tensor:
    """The backbone's pooled features of uint8 clips (N, T, S, S, 3), in eval mode. Shape: (N, D)."""
    training = backbone.training
    backbone.eval()
    features = torch.cat([backbone(normalize(to_float_clips(batch))) for batch in frames.split(64)])  # (N, D)
    backbone.train(training)
    return features


def kinetics_probe(backbone: torch.nn.Module, train: tuple, val: tuple) -> float:
    """Val accuracy of a linear probe on the frozen pooled features; `train`, `val`: (uint8 clips, labels)."""
    return linear_accuracy(pooled_features(backbone, train[0]), train[1], pooled_features(backbone, val[0]), val[1])


def backbone_rows(checkpoint: Path, train_paths, train_y, val_paths, val_y) -> dict[str, float]:
    """A linear probe on the network's frozen pooled features; a supervised network's own val accuracy."""
    config, method, backbone = load_trained_backbone(checkpoint)
    train_frames, val_frames = (
        torch.from_numpy(centre_frames(paths, config.sampling_rate, config.crop_size))
        for paths in (train_paths, val_paths)
    )  # (N, T, S, S, 3) each
    name = backbone_name(config, checkpoint)
    rows = {f"{name} features + linear": kinetics_probe(backbone, (train_frames, train_y), (val_frames, val_y))}
    if config.method == "supervised":
        with torch.inference_mode():
            predicted = method.classifier(pooled_features(backbone, val_frames)).argmax(1)  # (N,)
        rows[f"{name}, its classifier"] = (predicted == val_y).float().mean().item()
    return rows


def backbone_name(config: BackboneConfig, checkpoint: Path) -> str:
    return f"{config.method} Slow-D ({checkpoint.parent.name})"


def vidsitu_rows(vidsitu: Path, checkpoints: list[Path], size: int) -> dict[str, dict[str, float]]:
    """VidSitu valid verb metrics of a linear probe on each kind of event feature (train events fit it)."""
    train, valid = (load_vidsitu(vidsitu, split, check_videos=True).clips for split in ("train", "valid"))
    hand_made_clips = BackboneConfig(num_frames=SPAN // 4, sampling_rate=4, crop_size=size)

    def event_frames(clips: tuple[VidSituClip, ...]) -> np.ndarray:
        events = [EventClips(clips, hand_made_clips)[i]["clips"].numpy() for i in range(len(clips))]
        return np.concatenate(events)  # (N * 5, 16, S, S, 3)

    train_frames, valid_frames = event_frames(train), event_frames(valid)
    rows = {
        name: event_probe_metrics(
            torch.from_numpy(features(train_frames)),
            train,
            torch.from_numpy(features(valid_frames)),
            valid,
            PROBE_WEIGHT_DECAY,
        )
        for name, features in HAND_MADE.items()
    }
    for checkpoint in checkpoints:
        config, _, backbone = load_trained_backbone(checkpoint)
        train_x, valid_x = (event_outputs(backbone, clips, config, torch.device("cpu")) for clips in (train, valid))
        rows[f"{backbone_name(config, checkpoint)} features + linear"] = event_probe_metrics(
            train_x, train, valid_x, valid, PROBE_WEIGHT_DECAY
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", type=Path, default=Path("runs/demo/data"))
    parser.add_argument("--backbone", type=Path, nargs="*", default=[], help="backbone checkpoints (any method)")
    parser.add_argument("--size", type=int, default=64, help="decode size of the hand-made features")
    args = parser.parse_args()
    started = time.perf_counter()
    train, val = (load_video_folder(args.benchmark / "kinetics" / split) for split in ("train", "val"))
    if label_names(train) != label_names(val):
        raise SystemExit("train and val clips have different classes")
    train_y, val_y = (torch.tensor([v.label for v in videos]) for videos in (train, val))
    train_paths, val_paths = [v.path for v in train], [v.path for v in val]
    train_frames, val_frames = (centre_frames(paths, 4, args.size) for paths in (train_paths, val_paths))
    rows = {
        name: linear_accuracy(features(train_frames), train_y, features(val_frames), val_y)
        for name, features in HAND_MADE.items()
    }
    for checkpoint in args.backbone:
        rows.update(backbone_rows(checkpoint, train_paths, train_y, val_paths, val_y))
    floor = rows["motion energy + linear"]
    print(
        f"Kinetics-style val of {args.benchmark}: {len(train)} train / {len(val)} val clips, "
        f"{len(label_names(train))} verbs (chance {1 / len(label_names(train)):.3f}), "
        f"{time.perf_counter() - started:.0f} s"
    )
    width = max(len(name) for name in rows)
    print(f"{'row':<{width}} {'accuracy':>9} {'/ motion energy':>16}")
    for name, accuracy in rows.items():
        print(f"{name:<{width}} {accuracy:>9.3f} {accuracy / floor:>16.2f}")
    started = time.perf_counter()
    events = vidsitu_rows(args.benchmark / "vidsitu", args.backbone, args.size)
    elapsed = time.perf_counter() - started
    print(f"\nVidSitu valid events of {args.benchmark} (linear probes fit on the train events), {elapsed:.0f} s")
    floor = events["motion energy + linear"]["acc1"]
    print(f"{'row':<{width}} {'Acc@1':>7} {'Acc@5':>7} {'Rec@5':>7} {'Acc@1 / motion energy':>22}")
    for name, metrics in events.items():
        acc1, acc5, rec5 = (100 * metrics[k] for k in ("acc1", "acc5", "rec5"))
        print(f"{name:<{width}} {acc1:>7.2f} {acc5:>7.2f} {rec5:>7.2f} {metrics['acc1'] / floor:>22.2f}")


if __name__ == "__main__":
    main()
