"""Does CVRL pretraining help? The linear verb probe (VidSitu valid of the benchmark) on a tiny
backbone pretrained by CVRL on the benchmark's Kinetics-style clips, against the same probe on
randomly initialised backbones; mean and standard error over seeds.

    python bench/probe_cvrl_vs_random.py --benchmark runs/demo/data --out runs/probe_experiment [--seeds 3]
"""

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from hiermovie.extract.config import BACKBONE_PROFILES, VERB_FINETUNE_PROFILES
from hiermovie.extract.pretrain import PretrainOptions, pretrain
from hiermovie.extract.verbs import VerbRunOptions, probe_verbs


def mean_se(values: list[float]) -> str:
    values = np.asarray(values) * 100
    return f"{values.mean():.2f} ± {values.std(ddof=1) / np.sqrt(len(values)):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", type=Path, default=Path("runs/demo/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/probe_experiment"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=30)
    args = parser.parse_args()
    config = replace(BACKBONE_PROFILES["tiny"], epochs=args.epochs)
    probe_config = VERB_FINETUNE_PROFILES["tiny"]
    results: dict[str, list[dict]] = {"random": [], "cvrl": []}
    for seed in range(args.seeds):
        options = VerbRunOptions(device="cpu", seed=seed, progress=False)
        results["random"].append(probe_verbs(config, probe_config, args.benchmark / "vidsitu", options=options))
        run = args.out / f"cvrl_seed{seed}"
        pretrain(config, args.benchmark / "kinetics" / "train", run, PretrainOptions(device="cpu", seed=seed))
        results["cvrl"].append(
            probe_verbs(config, probe_config, args.benchmark / "vidsitu", run / "checkpoint.pt", options=options)
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"linear verb probe, VidSitu valid of the benchmark, {args.seeds} seeds, tiny backbone")
    print(f"{'backbone':<28} {'Acc@1':>14} {'Acc@5':>14} {'Rec@5':>14}")
    for name, runs in results.items():
        label = "random init" if name == "random" else f"CVRL, {args.epochs} epochs"
        print(f"{label:<28} " + " ".join(f"{mean_se([r[k] for r in runs]):>14}" for k in ("acc1", "acc5", "rec5")))


if __name__ == "__main__":
    main()
