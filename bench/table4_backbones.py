"""The paper's Table 4 on the embedded benchmark: the tiny Slow-D pretrained by each method on the
benchmark's Kinetics-style clips (default `tiny` settings), then the linear verb probe (and, with
`--finetune`, end-to-end verb finetuning) on its VidSitu part; mean ± s.e. over seeds. "+VS" rows
continue the self-supervised pretraining on the VidSitu train clips (the paper's CVRL+VS, MoDist+VS).
Each row also prints the pretraining's wall time and its final loss next to the loss of chance.

    python bench/table4_backbones.py --benchmark runs/demo/data --out runs/table4 [--seeds 3] [--finetune]
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from hiermovie.datasets.vidsitu import load_vidsitu
from hiermovie.extract.config import BACKBONE_PROFILES, VERB_FINETUNE_PROFILES, backbone_profile
from hiermovie.extract.pretrain import PretrainOptions, pretrain
from hiermovie.extract.verbs import VerbRunOptions, finetune_verbs, probe_verbs

ROWS = ("random init", "supervised", "cvrl", "cvrl+VS", "modist", "modist+VS")
METRICS = ("acc1", "acc5", "rec5")


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


def run_row(row: str, seed: int, benchmark: Path, out: Path, finetune: bool) -> dict:
    """Pretrain (unless random init), probe, optionally finetune; the scores and the pretraining's numbers."""
    probe_config = VERB_FINETUNE_PROFILES["tiny"]
    options = VerbRunOptions(device="cpu", seed=seed, progress=False)
    config, checkpoint, result = BACKBONE_PROFILES["tiny"], None, {}
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
    result["probe"] = probe_verbs(config, probe_config, benchmark / "vidsitu", checkpoint, options=options)
    if finetune:
        finetuned = out / f"{row.replace(' ', '_')}_finetune_seed{seed}"
        result["finetune"] = finetune_verbs(
            config, probe_config, benchmark / "vidsitu", finetuned, checkpoint, None, options
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--benchmark", type=Path, default=Path("runs/demo/data"))
    parser.add_argument("--out", type=Path, default=Path("runs/table4"))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rows", nargs="+", default=list(ROWS), choices=ROWS)
    parser.add_argument("--finetune", action="store_true", help="also finetune each backbone end to end")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    results: dict[str, list[dict]] = {}
    for seed in range(args.seeds):  # seed-major, saved after every run: an interrupted sweep keeps what it has
        for row in args.rows:
            results.setdefault(row, []).append(run_row(row, seed, args.benchmark, args.out, args.finetune))
            (args.out / "results.json").write_text(json.dumps(results, indent=1))
    print(f"Table 4 on {args.benchmark}: tiny Slow-D, VidSitu valid, {args.seeds} seeds, mean ± s.e. (%)")
    kinds = ("probe", "finetune") if args.finetune else ("probe",)
    header = " ".join(f"{f'{kind} {m}':>16}" for kind in kinds for m in METRICS)
    print(f"{'backbone':<12} {header} {'pretrain s':>14} {'final loss':>14} {'chance':>7}")
    for row, runs in results.items():
        scores = " ".join(f"{mean_se([r[kind][m] for r in runs]):>16}" for kind in kinds for m in METRICS)
        pretrained = [
            f"{mean_se([r[k] for r in runs], 1):>14}" if "seconds" in runs[0] else f"{'':>14}"
            for k in ("seconds", "loss")
        ]
        chance = f"{runs[0]['chance']:>7.2f}" if "chance" in runs[0] else f"{'':>7}"
        print(f"{row:<12} {scores} {' '.join(pretrained)} {chance}")


if __name__ == "__main__":
    main()
