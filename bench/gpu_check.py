"""One prepared check for a GPU machine (`make gpu-check`): the CUDA paths of both stages and the
figures that size a paper-scale run, written as one JSON file and one Markdown table.

- backbone: paper Slow-D (16x4, 224 px) forward in bf16 autocast + channels-last 3D at two batch
  sizes: clips/s, peak GPU memory, and the achieved fraction of the device's dense bf16 peak from the
  model's counted FLOPs (45.7 GMACs a clip for the paper profile);
- extraction: clips at a realistic source size (640 x 360, 10 s) through `hiermovie extract`: end-to-end
  events/s over backbone-only events/s, and decoded event clips/s of one CPU worker (so the number of
  decoding workers one GPU needs is known);
- TxE: paper profile (3 x 16 x 1024, K = 65,536 queue) training steps/s from the cache, and the wall
  time of one Table 2 cell at VidSitu scale (20k clips of 5 events) extrapolated from it;
- torchrun: a 1-process `torchrun` run (nccl on CUDA) of backbone and TxE pretraining for a few steps,
  then resumed from its checkpoint for one more.

`--device cpu` runs the same code at toy sizes (tests use it; its figures say nothing about a GPU).

    python bench/gpu_check.py --device cuda --out runs/gpu_check     (make gpu-check)
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from bench_backbone_train import write_videos
from bench_decode import decode_clips_per_s, write_moving_video
from bench_txe_train import steps_per_s
from torch.utils.flop_counter import FlopCounterMode

from hiermovie.cache import EventCache
from hiermovie.checkpoint import save_checkpoint
from hiermovie.contextualize.config import TXE_PROFILES
from hiermovie.contextualize.data import token_windows
from hiermovie.contextualize.model import create_txe
from hiermovie.contextualize.pretrain import MaskPrediction
from hiermovie.contextualize.queue import NegativeQueue
from hiermovie.device import autocast, to_device_clips, to_device_model
from hiermovie.extract.backbone import create_slow_d
from hiermovie.extract.config import BACKBONE_PROFILES, EXTRACT_PROFILES
from hiermovie.extract.featurize import ExtractOptions, extract

# dense bf16 peaks from the vendors' data sheets, TFLOP/s (no sparsity)
BF16_PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0}
VIDSITU_TRAIN_CLIPS = 20_000  # Table 2 cell at VidSitu scale (paper: 23.6k train clips)


@dataclass(frozen=True)
class Scale:
    backbone: str  # BACKBONE_PROFILES name
    batches: tuple[int, ...]  # backbone batch sizes
    steps: int  # timed backbone forwards per batch size
    source: tuple[int, int]  # (width, height) of the generated videos
    videos: int  # 10 s videos for the extraction check
    workers: int  # decoding workers of the extraction
    txe: str  # TXE_PROFILES name
    queue_size: int
    txe_batch: int
    txe_steps: int


SCALES = {
    "cuda": Scale("paper", (32, 64), 10, (640, 360), 16, 4, "paper", 65_536, 256, 20),
    "cpu": Scale("tiny", (2, 4), 2, (160, 90), 4, 1, "tiny", 256, 8, 2),
}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_tflops(device: torch.device) -> float | None:
    """The device's dense bf16 peak, when its name is in the table."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in BF16_PEAK_TFLOPS.items() if key in name), None)


def prepare(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    return to_device_model(model, device).eval()


def clip_batch(config, batch: int, device: torch.device) -> torch.Tensor:
    """Random normalised clips (B, 3, T, S, S), laid out as the pipeline feeds them."""
    return to_device_clips(torch.randn(batch, 3, config.num_frames, config.crop_size, config.crop_size), device)


@torch.inference_mode()
def backbone_check(scale: Scale, device: torch.device) -> dict:
    """Forward clips/s, peak memory and achieved fraction of the bf16 peak at each batch size."""
    config = BACKBONE_PROFILES[scale.backbone]
    torch.manual_seed(0)
    model = prepare(create_slow_d(config), device)
    with FlopCounterMode(display=False) as counter:
        model(clip_batch(config, 1, device))
    flops = counter.get_total_flops()  # per clip, forward
    rows = []
    for batch in scale.batches:
        clips = clip_batch(config, batch, device)
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        with autocast(device):
            model(clips)  # warm-up (cuDNN autotuning)
            synchronize(device)
            started = time.perf_counter()
            for _ in range(scale.steps):
                model(clips)
            synchronize(device)
        clips_per_s = batch * scale.steps / (time.perf_counter() - started)
        peak = peak_tflops(device)
        rows.append(
            {
                "batch": batch,
                "clips_per_s": clips_per_s,
                "peak_memory_gib": torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None,
                "fraction_of_bf16_peak": clips_per_s * flops / (peak * 1e12) if peak else None,
            }
        )
    return {"profile": scale.backbone, "crop": config.crop_size, "gmacs_per_clip": flops / 2e9, "batches": rows}


def extraction_check(scale: Scale, device: torch.device, work: Path, backbone_clips_per_s: float) -> dict:
    """`hiermovie extract` end to end on generated videos at the source size; writes work/cache."""
    config = BACKBONE_PROFILES[scale.backbone]
    videos = work / "videos"
    for i in range(scale.videos):
        write_moving_video(videos / f"clip{i:03d}.mp4", scale.source, 10, i)
    checkpoint = work / "backbone.pt"
    torch.manual_seed(0)
    save_checkpoint(checkpoint, kind="backbone", config=config, step=0, backbone=create_slow_d(config).state_dict())
    decode = decode_clips_per_s(sorted(videos.glob("*.mp4")), config)
    options = ExtractOptions(device=device.type, workers=scale.workers, progress=False)
    started = time.perf_counter()
    manifest = extract(checkpoint, videos, work / "cache", EXTRACT_PROFILES[scale.backbone], options)
    end_to_end = manifest["tokens"] / (time.perf_counter() - started)
    return {
        "source": f"{scale.source[0]}x{scale.source[1]}, 10 s, 30 fps",
        "events": manifest["tokens"],
        "end_to_end_events_per_s": end_to_end,
        "backbone_only_events_per_s": backbone_clips_per_s,
        "end_to_end_over_backbone": end_to_end / backbone_clips_per_s,
        "decode_clips_per_s_per_worker": decode,
        "decode_workers_per_device": backbone_clips_per_s / decode,
    }


def txe_check(scale: Scale, device: torch.device, cache_path: Path) -> dict:
    """TxE pretraining steps/s on windows of the cache, and one Table 2 cell at VidSitu scale."""
    config = replace(
        TXE_PROFILES[scale.txe],
        input_dim=BACKBONE_PROFILES[scale.backbone].feature_dim,
        queue_size=scale.queue_size,
        batch_size=scale.txe_batch,
    )
    with EventCache(cache_path) as cache:
        windows = token_windows(cache, cache.video_ids, config.seq_len, config.stride_sec)
    features, video = torch.from_numpy(windows.features).to(device), torch.from_numpy(windows.video).to(device)
    torch.manual_seed(0)
    model = MaskPrediction(
        txe=create_txe(config), queue=NegativeQueue(config.queue_size, config.hidden_dim), config=config
    ).to(device)
    with autocast(device):
        steps_per_s(model.train(), features, video, config.batch_size, 1)  # warm-up
        rate = steps_per_s(model, features, video, config.batch_size, scale.txe_steps)
    cell_steps = config.epochs * VIDSITU_TRAIN_CLIPS // config.batch_size  # one window per clip
    try:
        import faiss

        faiss_gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    except ImportError:
        faiss_gpus = 0
    return {
        "profile": scale.txe,
        "layers_heads_width": f"{config.num_layers} x {config.num_heads} x {config.hidden_dim}",
        "queue_size": config.queue_size,
        "batch": config.batch_size,
        "steps_per_s": rate,
        "table2_cell_minutes_at_20k_clips": cell_steps / rate / 60,
        "faiss_gpus": faiss_gpus,
    }


def torchrun(args: list[str]) -> None:
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "1", "-m", "hiermovie", "--quiet"]
    subprocess.run([*command, *args], check=True, stdout=subprocess.DEVNULL)


def torchrun_check(scale: Scale, device: torch.device, work: Path) -> dict:
    """A few steps of backbone (tiny) and TxE pretraining (on work/cache) under torchrun, then one more
    step resumed from each run's checkpoint."""
    videos = write_videos(work / "kinetics", 4)
    stages = {
        "backbone": ["backbone", "pretrain", "--data", str(videos), "--method", "cvrl", "--profile", "tiny"],
        "txe": ["txe", "pretrain", "--cache", str(work / "cache"), "--profile", scale.txe],
    }
    results = {}
    for name, stage in stages.items():
        run, started = work / f"torchrun_{name}", time.perf_counter()
        for steps in (2, 3):
            torchrun(
                [*stage, "--batch-size", "2", "--device", device.type, "--out", str(run), "--max-steps", str(steps)]
            )
        logged = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]
        results[name] = {
            "resumed_to_step": max(r.get("step", 0) for r in logged),
            "seconds": time.perf_counter() - started,
        }
    return results


def markdown(report: dict) -> str:
    """The report as one Markdown table: section, figure, value."""
    rows = ["| section | figure | value |", "|---|---|---|"]
    for section, values in report.items():
        items = values.items() if isinstance(values, dict) else [("", values)]
        for key, value in items:
            if isinstance(value, list):
                for row in value:
                    rows += [
                        f"| {section} | batch {row['batch']}: {k} | {_fmt(v)} |" for k, v in row.items() if k != "batch"
                    ]
            elif isinstance(value, dict):
                rows += [f"| {section} | {key}: {k} | {_fmt(v)} |" for k, v in value.items()]
            else:
                rows.append(f"| {section} | {key} | {_fmt(value)} |")
    return "\n".join(rows) + "\n"


def _fmt(value) -> str:
    return f"{value:.3g}" if isinstance(value, float) else "n/a" if value is None else str(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--out", type=Path, default=Path("runs/gpu_check"))
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("error: --device cuda but no CUDA device is visible (use --device cpu for the toy run)")
    device, scale = torch.device(args.device), SCALES[args.device]
    started = time.perf_counter()
    report = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "scale": asdict(scale)}
    report["backbone"] = backbone_check(scale, device)
    extract_batch = EXTRACT_PROFILES[scale.backbone].batch_size
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        backbone_rate = backbone_check(replace(scale, batches=(extract_batch,)), device)
        report["extraction"] = extraction_check(scale, device, work, backbone_rate["batches"][0]["clips_per_s"])
        report["txe"] = txe_check(scale, device, work / "cache")
        report["torchrun"] = torchrun_check(scale, device, work)
    report["seconds"] = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=1))
    table = markdown({k: v for k, v in report.items() if k != "scale"})
    (args.out / "gpu_check.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
