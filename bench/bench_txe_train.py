"""TxE training throughput, side by side in one run:

- steps/s of event-mask-prediction steps fed from the cache (windows loaded once into memory)
  divided by steps/s on in-memory random tensors of the same shape: target >= 0.95;
- the per-epoch speedup of training from the cache over recomputing backbone features in the loop:
  an epoch's tokens cost (tokens / extraction events/s, measured here end to end on the same videos)
  on top of the TxE epoch itself.

    python bench/bench_txe_train.py [--movies 6] [--steps 30]
"""

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from hiermovie.cache import EventCache
from hiermovie.checkpoint import save_checkpoint
from hiermovie.contextualize.config import TXE_PROFILES
from hiermovie.contextualize.data import token_windows
from hiermovie.contextualize.masking import mask_size_set, uniform_span_masks
from hiermovie.contextualize.model import create_txe
from hiermovie.contextualize.pretrain import MaskPrediction
from hiermovie.contextualize.queue import NegativeQueue
from hiermovie.datasets.synth.render import render
from hiermovie.datasets.synth.story import movie_story
from hiermovie.extract.backbone import create_slow_d
from hiermovie.extract.config import BACKBONE_PROFILES, EXTRACT_PROFILES
from hiermovie.extract.featurize import ExtractOptions, extract
from hiermovie.video.decode import write_video


def steps_per_s(model: MaskPrediction, windows: torch.Tensor, video: torch.Tensor, batch: int, steps: int) -> float:
    """Training steps/s over batches drawn from `windows` (W, N, D)."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    sizes = mask_size_set(model.config.seq_len, model.config.mask_alpha)
    generator = torch.Generator().manual_seed(0)
    started = time.perf_counter()
    for _ in range(steps):
        rows = torch.randint(0, len(windows), (batch,), generator=generator)
        mask = uniform_span_masks(batch, model.config.seq_len, sizes, generator)
        loss, _ = model(windows[rows], video[rows], mask)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", type=int, default=6)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(2)
    backbone_config, config = BACKBONE_PROFILES["tiny"], replace(TXE_PROFILES["tiny"], batch_size=32)
    with tempfile.TemporaryDirectory() as tmp:
        videos = Path(tmp) / "videos"
        for i in range(args.movies):
            story = movie_story(np.random.default_rng([12, i]), 30, 40).story
            write_video(videos / f"movie{i}.mp4", (f for f, _ in render(story, 112, i)))
        checkpoint = Path(tmp) / "backbone.pt"
        torch.manual_seed(0)
        save_checkpoint(
            checkpoint,
            kind="backbone",
            config=backbone_config,
            step=0,
            backbone=create_slow_d(backbone_config).state_dict(),
        )
        started = time.perf_counter()
        manifest = extract(
            checkpoint,
            videos,
            Path(tmp) / "cache",
            replace(EXTRACT_PROFILES["tiny"], stride_sec=1.0),
            ExtractOptions(device="cpu", workers=2, progress=False),
        )
        extraction_events_per_s = manifest["tokens"] / (time.perf_counter() - started)
        with EventCache(Path(tmp) / "cache") as cache:
            windows = token_windows(cache, cache.video_ids, config.seq_len, config.stride_sec)
        cached, video = torch.from_numpy(windows.features), torch.from_numpy(windows.video)
        random = torch.randn_like(cached)

        def fresh_model() -> MaskPrediction:
            torch.manual_seed(0)
            return MaskPrediction(
                txe=create_txe(config), queue=NegativeQueue(config.queue_size, config.hidden_dim), config=config
            ).train()

        steps_per_s(fresh_model(), cached, video, config.batch_size, 3)  # warm-up
        from_cache = steps_per_s(fresh_model(), cached, video, config.batch_size, args.steps)
        from_memory = steps_per_s(fresh_model(), random, video, config.batch_size, args.steps)
        epoch_steps = max(1, len(cached) // config.batch_size)
        txe_epoch = epoch_steps / from_cache
        recompute_epoch = txe_epoch + epoch_steps * config.batch_size * config.seq_len / extraction_events_per_s
    print(
        f"TxE tiny, batch {config.batch_size} windows of {config.seq_len} tokens, {len(cached)} windows from "
        f"{args.movies} movies, CPU"
    )
    print(
        f"steps/s from the cache {from_cache:.1f}, on random in-memory tensors {from_memory:.1f}: "
        f"ratio {from_cache / from_memory:.2f}"
    )
    print(
        f"epoch from the cache {txe_epoch:.2f} s; with backbone features recomputed in the loop "
        f"({extraction_events_per_s:.0f} events/s end to end) {recompute_epoch:.1f} s: "
        f"speedup {recompute_epoch / txe_epoch:.0f}x"
    )


if __name__ == "__main__":
    main()
