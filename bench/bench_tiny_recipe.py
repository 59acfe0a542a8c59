"""Time to accuracy of the tiny supervised Slow-D (like the CIFAR-10 speedruns): the recipe before and the
recipe now, side by side in one run, on the benchmark's Kinetics-style clips.

After every epoch a linear probe (logistic regression on the frozen pooled features of the centre clip of
every train clip) is scored on the val clips, as `bench_kinetics_baselines.py` scores a backbone. The
clock runs from the call of `pretrain` (decoding into memory and building the model included) and stops
while the probe is scored; the first epoch at or above `--target` gives the time to accuracy.

    python bench/bench_tiny_recipe.py --benchmark runs/demo/data --out runs/bench_tiny_recipe [--recipes now]
"""

import argparse
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

import torch
from bench_kinetics_baselines import kinetics_probe, kinetics_split

from hiermovie.datasets.video_folder import label_names, load_video_folder
from hiermovie.device import cpu_has_native_bf16
from hiermovie.extract.config import backbone_profile
from hiermovie.extract.pretrain import PretrainOptions, pretrain

NOW = backbone_profile("tiny", "supervised")
# the tiny supervised recipe before: batch 16, Adam at 0.01, no label smoothing, fp32 on every CPU; it
# passed 0.80 after ~20 epochs
BEFORE = replace(NOW, batch_size=16, lr=0.01, label_smoothing=0.0, epochs=20)
RECIPES = {"before": (BEFORE, False), "now": (NOW, True)}  # name: (config, bf16 autocast on a CPU with bf16)


class ProbeClock:
    """Scores the probe after each epoch and keeps the training clock, paused while it scores."""

    def __init__(self, train: tuple[torch.Tensor, torch.Tensor], val: tuple[torch.Tensor, torch.Tensor]):
        self.train, self.val = train, val
        self.started, self.paused, self.rows = time.perf_counter(), 0.0, []

    def __call__(self, epoch: int, backbone: torch.nn.Module) -> dict:
        entered = time.perf_counter()
        accuracy = kinetics_probe(backbone, self.train, self.val)
        row = {"epoch": epoch + 1, "seconds": entered - self.started - self.paused, "val_accuracy": accuracy}
        self.rows.append(row)
        print(f"  epoch {row['epoch']:>2}: {row['seconds']:6.1f} s, Kinetics-style val {accuracy:.3f}", flush=True)
        self.paused += time.perf_counter() - entered
        print(f"           (probe {time.perf_counter() - entered:.1f} s, not counted)", flush=True)
        return {"val_accuracy": accuracy}


def run_recipe(name: str, benchmark: Path, out: Path, frames: dict, seed: int) -> list[dict]:
    config, bf16 = RECIPES[name]
    print(f"{name}: batch {config.batch_size}, lr {config.lr}, {config.epochs} epochs, bf16 {bf16}", flush=True)
    clock = ProbeClock(frames["train"], frames["val"])
    options = PretrainOptions(device="cpu", seed=seed, cpu_bf16=bf16, epoch_end=clock, progress=False)
    run = out / f"{name}_seed{seed}"
    shutil.rmtree(run, ignore_errors=True)  # a run from scratch: a finished one would not train again
    pretrain(config, benchmark / "kinetics" / "train", run, options)
    return clock.rows


def time_to(rows: list[dict], target: float) -> str:
    reached = [row for row in rows if row["val_accuracy"] >= target]
    return f"{reached[0]['seconds']:.0f} s (epoch {reached[0]['epoch']})" if reached else "not reached"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", type=Path, default=Path("runs/demo/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/bench_tiny_recipe"))
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES), choices=RECIPES)
    parser.add_argument("--target", type=float, default=0.80)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    frames = {}
    for split in ("train", "val"):
        clips, labels = kinetics_split(args.benchmark, split, NOW.sampling_rate, NOW.crop_size)
        frames[split] = (torch.from_numpy(clips), labels)  # (N, T, S, S, 3) uint8, (N,)
    classes = len(label_names(load_video_folder(args.benchmark / "kinetics" / "val")))
    print(f"CPU bf16 instructions: {cpu_has_native_bf16()}; {classes} verbs, chance {1 / classes:.3f}")
    results = {name: run_recipe(name, args.benchmark, args.out, frames, args.seed) for name in args.recipes}
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"\ntime to {args.target:.2f} Kinetics-style val (linear probe), seed {args.seed}:")
    for name, rows in results.items():
        final = rows[-1]
        print(
            f"{name:<8} {time_to(rows, args.target):>20}; whole run {final['seconds']:.0f} s, "
            f"final {final['val_accuracy']:.3f}"
        )


if __name__ == "__main__":
    main()
