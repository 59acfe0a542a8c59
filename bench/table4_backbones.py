"""The paper's Table 4 on the embedded benchmark over backbone seeds: the tiny Slow-D pretrained by each
method on the benchmark's Kinetics-style clips (default `tiny` settings), then a linear probe on the
Kinetics-style val clips and the linear verb probe (and, with `--finetune`, end-to-end verb finetuning)
on its VidSitu part; mean ± s.e. over backbone seeds (each seed pretrains every backbone anew and seeds
its probes). "+VS" rows continue the self-supervised pretraining on the VidSitu train clips (the paper's
CVRL+VS, MoDist+VS). The hand-made floors (motion energy, a still frame) are scored once. Each row also
prints the pretraining's wall time and its final loss next to the loss of chance; paired differences
between rows are over the seeds both rows have.

Resumable and run in parts: every (row, seed) is saved to OUT/results.json as it finishes and skipped
when already there, so `--seeds 0`, then `--seeds 1 2` (each part well under 75 minutes on 2 cores)
build the same table as `--seeds 0 1 2`; the table printed covers every seed saved.

    python bench/table4_backbones.py --benchmark runs/demo/data --out runs/table4 [--seeds 0 1 2] [--finetune]
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from bench_kinetics_baselines import HAND_MADE, kinetics_probe, kinetics_split, linear_accuracy, vidsitu_rows

from hiermovie.datasets.vidsitu import load_vidsitu
from hiermovie.extract.backbone import create_slow_d
from hiermovie.extract.config import VERB_FINETUNE_PROFILES, backbone_profile
from hiermovie.extract.pretrain import PretrainOptions, pretrain
from hiermovie.extract.verbs import VerbRunOptions, finetune_verbs, load_backbone, probe_verbs

ROWS = ("random init", "supervised", "cvrl", "cvrl+VS", "modist", "modist+VS")
METRICS = ("kinetics", "acc1", "acc5", "rec5")
# paired differences printed under the table: the paper's Table 4 orderings (MoDist > Sup > CVRL > none)
PAIRS = (("modist", "cvrl"), ("modist", "random init"), ("cvrl", "random init"), ("supervised", "random init"))


def mean_se(values: list[float], scale: float = 100) -> str:
    values = np.asarray(values) * scale
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
    return f"{values.mean():.2f} ± {se:.2f}"


def vidsitu_train_list(benchmark: Path, out: Path) -> Path:
    """A `path label` list of the VidSitu train clips (one dummy class) for continued pretraining."""
    clips = load_vidsitu(benchmark / "vidsitu", "train").clips
    listing = out / "vidsitu_train.txt"
    listing.write_text("".join(f"{clip.video_path.resolve()} 0\n" for clip in clips))
    return listing


def kinetics_clips(benchmark: Path, config) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Centre clips of the Kinetics-style train and val videos at the backbone's sampling, with labels."""
    clips = {}
    for split in ("train", "val"):
        frames, labels = kinetics_split(benchmark, split, config.sampling_rate, config.crop_size)
        clips[split] = (torch.from_numpy(frames), labels)  # (N, T, S, S, 3) uint8, (N,)
    return clips


def run_row(row: str, seed: int, benchmark: Path, out: Path, kinetics: dict, finetune: bool) -> dict:
    """Pretrain (unless random init), probe both parts, optionally finetune: the scores and the pretraining numbers."""
    probe_config = VERB_FINETUNE_PROFILES["tiny"]
    options = VerbRunOptions(device="cpu", seed=seed, progress=False)
    config, checkpoint, result = backbone_profile("tiny", "supervised"), None, {}
    if row != "random init":
        method, continued = row.removesuffix("+VS"), row.endswith("+VS")
        config, run = backbone_profile("tiny", method), out / f"{row}_seed{seed}"
        data, init = benchmark / "kinetics" / "train", None
        if continued:  # the base run (reused when its row ran first), then the VidSitu clips
            data, init = vidsitu_train_list(benchmark, out), out / f"{method}_seed{seed}" / "checkpoint.pt"
            pretrain(config, benchmark / "kinetics" / "train", init.parent, PretrainOptions(device="cpu", seed=seed))
        started = time.perf_counter()
        pretrain(config, data, run, PretrainOptions(device="cpu", seed=seed, init=init))
        summary = json.loads((run / "summary.json").read_text())  # also for a finished run, reused
        checkpoint = run / "checkpoint.pt"
        result.update(seconds=time.perf_counter() - started, loss=summary["loss"], chance=summary["chance_loss"])
        _, backbone = load_backbone(config, checkpoint)
    else:
        torch.manual_seed(seed)
        backbone = create_slow_d(config)
    result["probe"] = {
        "kinetics": kinetics_probe(backbone, kinetics["train"], kinetics["val"]),
        **probe_verbs(config, probe_config, benchmark / "vidsitu", checkpoint, options=options),
    }
    if finetune:
        finetuned = out / f"{row.replace(' ', '_')}_finetune_seed{seed}"
        result["finetune"] = finetune_verbs(
            config, probe_config, benchmark / "vidsitu", finetuned, checkpoint, None, options
        )
    return result


def floors(benchmark: Path, size: int) -> dict[str, dict[str, float]]:
    """The hand-made rows: Kinetics-style val accuracy and VidSitu verb metrics of each feature + linear."""
    (train, train_y), (val, val_y) = (kinetics_split(benchmark, split, 4, size) for split in ("train", "val"))
    rows = vidsitu_rows(benchmark / "vidsitu", [], size)
    for name, features in HAND_MADE.items():
        rows[name]["kinetics"] = linear_accuracy(features(train), train_y, features(val), val_y)
    return rows


def print_table(results: dict, hand_made: dict, finetune: bool) -> None:
    seeds = sorted({seed for runs in results.values() for seed in runs}, key=int)
    print(f"Table 4 on the benchmark: tiny Slow-D, backbone seeds {', '.join(seeds)}, mean ± s.e. over them (%)")
    kinds = ("probe", "finetune") if finetune else ("probe",)
    header = " ".join(f"{f'{kind} {m}':>16}" for kind in kinds for m in METRICS)
    print(f"{'backbone':<26} {'seeds':>5} {header} {'pretrain s':>14} {'final loss':>14} {'chance':>7}")
    for name, metrics in hand_made.items():
        scores = " ".join(f"{100 * metrics[m]:>16.2f}" for m in METRICS)
        print(f"{name + ' (floor)':<26} {'':>5} {scores}")
    for row in ROWS:
        runs = list(results.get(row, {}).values())
        if not runs:
            continue
        scores = " ".join(f"{mean_se([r[kind][m] for r in runs]):>16}" for kind in kinds for m in METRICS)
        pretrained = [
            f"{mean_se([r[k] for r in runs], 1):>14}" if "seconds" in runs[0] else f"{'':>14}"
            for k in ("seconds", "loss")
        ]
        chance = f"{runs[0]['chance']:>7.2f}" if "chance" in runs[0] else f"{'':>7}"
        print(f"{row:<26} {len(runs):>5} {scores} {' '.join(pretrained)} {chance}")
    print("\npaired differences over backbone seeds (probe; mean ± s.e. of the per-seed difference):")
    for first, second in PAIRS:
        shared = sorted(set(results.get(first, {})) & set(results.get(second, {})), key=int)
        if len(shared) < 2:
            print(f"{first} - {second}: fewer than 2 shared seeds")
            continue
        cells = []
        for m in METRICS:
            differences = [results[first][s]["probe"][m] - results[second][s]["probe"][m] for s in shared]
            cells.append(f"{m} {mean_se(differences)}")
        print(f"{first} - {second} ({len(shared)} seeds): {'; '.join(cells)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", type=Path, default=Path("runs/demo/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/table4"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="backbone seeds to run (this part)")
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS)
    parser.add_argument("--finetune", action="store_true", help="also finetune each backbone end to end")
    parser.add_argument("--size", type=int, default=64, help="decode size of the hand-made features")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    saved = args.out / "results.json"
    results: dict[str, dict[str, dict]] = json.loads(saved.read_text()) if saved.is_file() else {}
    hand_made_file = args.out / "floors.json"
    if not hand_made_file.is_file():
        hand_made_file.write_text(json.dumps(floors(args.benchmark, args.size), indent=1))
    kinetics = kinetics_clips(args.benchmark, backbone_profile("tiny", "supervised"))
    for seed in args.seeds:  # seed-major, saved after every run: an interrupted sweep keeps what it has
        for row in args.rows:
            if str(seed) in results.get(row, {}):
                continue
            started = time.perf_counter()
            result = run_row(row, seed, args.benchmark, args.out, kinetics, args.finetune)
            results.setdefault(row, {})[str(seed)] = result
            saved.write_text(json.dumps(results, indent=1))
            print(f"{row}, seed {seed}: {time.perf_counter() - started:.0f} s, probe {result['probe']}", flush=True)
    print_table(results, json.loads(hand_made_file.read_text()), args.finetune)


if __name__ == "__main__":
    main()
