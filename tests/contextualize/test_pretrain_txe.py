"""TxE pretraining from a real cache of the tiny benchmark: trains, resumes to the same losses,
refuses configs that cannot run on the cache, runs data-parallel, and the ablation grid writes its
tables and resumes."""

import inspect
import json
from dataclasses import replace

import pytest
import torch

from hiermovie.cache import EventCache
from hiermovie.contextualize import pretrain
from hiermovie.contextualize.ablate import GridRow, ablate, load_grid
from hiermovie.contextualize.config import TXE_PROFILES
from hiermovie.contextualize.data import select_videos, split_windows
from hiermovie.contextualize.model import load_target_projection, load_txe
from hiermovie.contextualize.pretrain import TxEOptions, pretrain_txe
from hiermovie.contextualize.queue import NegativeQueue
from hiermovie.contextualize.retrieval import masked_event_retrieval
from hiermovie.errors import HiermovieError
from hiermovie.runlog import read_log

TINY = replace(TXE_PROFILES["tiny"], batch_size=8, epochs=2, queue_size=64)
OPTIONS = TxEOptions(device="cpu", val_fraction=0.3, progress=False)


@pytest.fixture
def cache(tiny_cache):
    """The tiny benchmark extracted at 1 s by a random tiny backbone (512-d)."""
    return tiny_cache


def losses(run) -> list[float]:
    return [r["loss"] for r in read_log(run / "log.jsonl") if "loss" in r]


def test_pretraining_resumes_to_the_same_losses(cache, tmp_path):
    pretrain_txe(TINY, cache, tmp_path / "resumed", replace(OPTIONS, max_steps=3))
    summary = pretrain_txe(TINY, cache, tmp_path / "resumed", OPTIONS)
    straight = pretrain_txe(TINY, cache, tmp_path / "straight", OPTIONS)
    assert losses(tmp_path / "resumed") == losses(tmp_path / "straight") and summary["step"] == straight["step"] > 3
    assert 0 <= summary["r1"] <= summary["r5"] <= 1 and summary["median_rank"] >= 1
    assert json.loads((tmp_path / "straight" / "summary.json").read_text())["val_windows"] > 0


def test_a_reloaded_checkpoint_retrieves_against_the_targets_it_was_trained_to_hit(cache, tmp_path):
    # EMA targets at m = 0.9 move visibly in a short run, so the live projection is a different gallery
    config = replace(TINY, ema_momentum=0.9, epochs=3)
    summary = pretrain_txe(config, cache, tmp_path / "run", OPTIONS)
    with EventCache(cache) as opened:
        video_ids = select_videos(opened, OPTIONS.videos).video_ids
        _, valid = split_windows(opened, video_ids, config.seq_len, config.stride_sec, OPTIONS.val_fraction)
    _, txe = load_txe(tmp_path / "run" / "checkpoint.pt")
    targets = load_target_projection(tmp_path / "run" / "checkpoint.pt")
    reloaded = masked_event_retrieval(txe, valid.features, target_projection=targets)
    assert {k: reloaded[k] for k in ("r1", "r5", "median_rank")} == {k: summary[k] for k in ("r1", "r5", "median_rank")}
    assert not torch.allclose(targets.weight, txe.input_proj.weight, atol=1e-3)  # the EMA copy, not the live one
    assert summary["pretrained_on"] == f"every video of the cache ({len(video_ids)})"


@pytest.mark.parametrize(
    "config, message",
    [
        (replace(TINY, input_dim=2048), "features are 512-d, the TxE config expects 2048"),
        (replace(TINY, mask_sizes=(5,)), "mask size 5 leaves no context in a window of 5 tokens"),
        (replace(TINY, stride_sec=1.5), "stride 1.5 s is not a multiple of the extraction stride 1 s"),
        (replace(TINY, loss="cosine"), "unknown loss 'cosine'"),
    ],
)
def test_configs_that_cannot_run_on_the_cache_are_refused(cache, tmp_path, config, message):
    with pytest.raises(HiermovieError, match=message):
        pretrain_txe(config, cache, tmp_path / "run", OPTIONS)


def _spy(monkeypatch, owner, name: str, calls: dict) -> None:
    """Record the arguments, by name, of every call of owner.name (a function of pretrain.py or a method)."""
    original = getattr(owner, name)
    signature = inspect.signature(original)

    def wrapper(*args, **kwargs):
        calls.setdefault(name, []).append(signature.bind(*args, **kwargs).arguments)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrapper)


@pytest.mark.parametrize(
    "overrides",
    [
        {"mask_sizes": (1,)},
        {"loss": "l2"},
        {"mask_sampling": "max_discrepancy"},
        {"hard_negatives": 4},
        {"target": "live", "exclude_same_video": False},
        {"stride_sec": 1.0},
        {"stride_sec": 3.0},
    ],
)
def test_every_table2_variant_trains(cache, tmp_path, monkeypatch, overrides):
    """Three steps with finite losses, and the option reaches the step (tests/contextualize/test_table2_variants.py
    checks that each one does what it claims)."""
    calls: dict = {}
    for name in ("uniform_span_masks", "max_discrepancy_masks", "mask_l2_loss", "mask_nce_loss"):
        _spy(monkeypatch, pretrain, name, calls)
    _spy(monkeypatch, NegativeQueue, "hard_negatives", calls)
    config = replace(TINY, **overrides)
    summary = pretrain_txe(config, cache, tmp_path / "run", replace(OPTIONS, max_steps=3))
    assert summary["step"] == 3 and all(torch.isfinite(torch.tensor(losses(tmp_path / "run"))))
    sampler = "max_discrepancy_masks" if config.mask_sampling == "max_discrepancy" else "uniform_span_masks"
    assert {len(calls.get(name, ())) for name in ("uniform_span_masks", "max_discrepancy_masks")} == {0, 3}
    assert len(calls[sampler]) == 3 and all(c["sizes"] == (config.mask_sizes or (1, 2, 3)) for c in calls[sampler])
    loss, other = ("mask_l2_loss", "mask_nce_loss") if config.loss == "l2" else ("mask_nce_loss", "mask_l2_loss")
    assert len(calls[loss]) == 3 and other not in calls
    assert [c["k"] for c in calls.get("hard_negatives", ())] == [4] * (3 if config.hard_negatives else 0)
    if loss == "mask_nce_loss":  # the query videos are passed only to exclude same-video distractors
        assert all((c.get("query_video") is not None) == config.exclude_same_video for c in calls[loss])
    with EventCache(cache) as opened:
        train, _ = split_windows(opened, opened.video_ids, config.seq_len, config.stride_sec, OPTIONS.val_fraction)
    assert summary["train_windows"] == len(train)


def test_ablation_grid_writes_tables_and_resumes(cache, tmp_path):
    grid_file = tmp_path / "grid.json"
    grid_file.write_text(
        json.dumps(
            {"rows": [{"label": "random", "overrides": None}, {"label": "mask {1}", "overrides": {"mask_sizes": [1]}}]}
        )
    )
    grid = load_grid(str(grid_file))
    assert grid == [GridRow("random", None), GridRow("mask {1}", {"mask_sizes": [1]})]
    table = ablate(TINY, cache, grid, 2, tmp_path / "out", OPTIONS)
    cells = (tmp_path / "out" / "cells.jsonl").read_text()
    assert len(cells.splitlines()) == 4 and "| random |" in table.read_text() and "| mask {1} |" in table.read_text()
    assert (tmp_path / "out" / "table.csv").read_text().count("\n") == 3
    ablate(TINY, cache, grid, 2, tmp_path / "out", OPTIONS)  # everything done: nothing rerun
    assert (tmp_path / "out" / "cells.jsonl").read_text() == cells
    assert [row.label for row in load_grid("table2")][:2] == ["random init (no pretraining)", "mask {1}"]


def test_two_process_torchrun_keeps_replicas_in_sync(cache, tmp_path, torchrun, tensorboard_scalars):
    args = ["txe", "pretrain", "--cache", str(cache), "--out", str(tmp_path / "ddp"), "--profile", "tiny"]
    args += ["--max-steps", "2", "--batch-size", "8", "--device", "cpu", "--val-fraction", "0.3"]
    torchrun(args, tmp_path / "logs")
    assert read_log(tmp_path / "ddp" / "log.jsonl")[-1] == {"step": 2, "replicas_in_sync": True}
    events = tensorboard_scalars(tmp_path / "ddp" / "tensorboard", purge=False)  # the main rank's alone
    assert [step for step, _ in events["loss"]] == [1, 2] and events["replicas_in_sync"] == [(2, 1.0)]


def test_the_event_files_hold_the_loss_the_retrieval_of_each_epoch_and_a_projector_of_tokens(
    cache, tmp_path, tensorboard_scalars
):
    summary = pretrain_txe(TINY, cache, tmp_path / "run", OPTIONS)
    scalars = tensorboard_scalars(tmp_path / "run" / "tensorboard")
    log = read_log(tmp_path / "run" / "log.jsonl")
    assert [step for step, _ in scalars["loss"]] == [r["step"] for r in log] and len(log) == summary["step"]
    epoch_ends = [r for r in log if "r1" in r]
    assert len(epoch_ends) == TINY.epochs and [step for step, _ in scalars["r1"]] == [r["step"] for r in epoch_ends]
    assert scalars["r1"][-1][1] == pytest.approx(summary["r1"])  # the last epoch's retrieval is the summary's
    projector = tmp_path / "run" / "tensorboard" / f"{summary['step']:05d}" / "tokens"
    videos = (projector / "metadata.tsv").read_text().split()
    points = (projector / "tensors.tsv").read_text().splitlines()
    assert 0 < len(videos) == len(points) <= 1000 and len(points[0].split("\t")) == TINY.hidden_dim
    with EventCache(cache) as opened:
        ids = select_videos(opened, OPTIONS.videos).video_ids
        _, valid = split_windows(opened, ids, TINY.seq_len, TINY.stride_sec, OPTIONS.val_fraction)
    assert set(videos) == set(valid.sources)  # the source video of each token, over every validation video
