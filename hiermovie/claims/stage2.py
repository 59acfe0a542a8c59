"""The claims run's stage 2, all from the caches of stage 1: MaskPred-VS on the VidSitu clips, the Table 2
grid on the LVU movies (whose `mask {1, 2, 3}` seed-0 cell is MaskPred-LVU), every task row of Tables 4, 1,
3 and 5 with its floor and ceiling, and each grid cell scored on one fixed validation set. Every run is
recorded as it finishes and reused on a rerun (the resume of `run_tasks` and `ablate`)."""

import json
from dataclasses import replace
from pathlib import Path

import torch

from hiermovie.cache import EventCache
from hiermovie.claims.config import ClaimsConfig
from hiermovie.contextualize.ablate import TABLE2, GridRow, ablate
from hiermovie.contextualize.config import TXE_PROFILES
from hiermovie.contextualize.data import VideoChoice
from hiermovie.contextualize.model import load_target_projection, load_txe
from hiermovie.contextualize.pretrain import TxEOptions, pretrain_txe
from hiermovie.contextualize.retrieval import masked_event_retrieval
from hiermovie.datasets.lvu import LVU_TASKS, load_lvu_task, lvu_labels_root
from hiermovie.datasets.vidsitu import load_vidsitu, vidsitu_root
from hiermovie.results import slug
from hiermovie.tasks.config import TASK_PROFILES
from hiermovie.tasks.floors import lvu_floor, relation_floor, verb_floor
from hiermovie.tasks.runs import TaskOptions, lvu_videos, run_tasks
from hiermovie.tasks.vidsitu_data import load_event_features, without_lvu_overlap

TXE = TXE_PROFILES["tiny"]
GRID = tuple(GridRow(label, overrides) for label, overrides in TABLE2 if overrides is not None)
LVU_TXE_CELL = "mask {1, 2, 3}"  # the grid's reference row (stride 2 s, uniform, contrastive) is MaskPred-LVU
# (folder, cache, TxE, tasks, rows): every group of table rows that shares a cache and a TxE checkpoint
TASK_GROUPS = (
    *(
        (f"verb_{slug(b)}", b, None, ("verb",), ("features",))
        for b in ("random init", "supervised", "modist", "cvrl+VS")
    ),
    ("sup", "supervised", None, ("srl",), ("features", "scratch")),
    ("cvrl_vs", "cvrl", "vs", ("verb", "relation"), ("features", "scratch", "pretrained")),
    ("cvrl_vs_srl", "cvrl", "vs", ("srl",), ("blind", "scratch", "pretrained")),
    ("cvrl_lvu_srl", "cvrl", "lvu", ("srl",), ("pretrained",)),
    ("oracle", "oracle", None, ("verb", "relation"), ("features", "scratch")),
    ("oracle_srl", "oracle", None, ("srl",), ("scratch",)),
    ("lvu", "lvu", "lvu", ("lvu",), ()),
    ("lvu_oracle", "oracle", None, ("lvu",), ("scene_sup",)),
)


def pretrain_txes(out: Path, data: Path, caches: dict[str, Path], config: ClaimsConfig) -> dict[str, Path]:
    """MaskPred-VS (VidSitu train clips of the CVRL cache) and the Table 2 grid (LVU train movies of the LVU
    cache), as the paper pretrains on the train splits (sec. 4); {"vs", "lvu": checkpoint}."""
    vs = out / "txe" / "vs"
    if not (vs / "summary.json").is_file():
        # the VidSitu cache holds each clip's 5 events as consecutive tokens: one window per clip, step 1
        vs_config = replace(TXE, stride_sec=1.0, epochs=config.vs_txe_epochs, batch_size=config.txe_batch_size)
        vs_options = TxEOptions(progress=False, videos=VideoChoice(data=data, vidsitu_split="train"))
        pretrain_txe(vs_config, caches["cvrl"], vs, vs_options)
    grid_config = replace(TXE, epochs=config.lvu_txe_epochs, batch_size=config.txe_batch_size)
    grid_options = TxEOptions(progress=False, videos=VideoChoice(data=data, lvu_split="train"))
    ablate(grid_config, caches["lvu"], list(GRID), config.grid_runs, out / "table2", grid_options)
    return {"vs": vs / "checkpoint.pt", "lvu": grid_checkpoint(out, LVU_TXE_CELL, 0)}


def grid_checkpoint(out: Path, label: str, seed: int) -> Path:
    """The TxE checkpoint of one Table 2 cell (as `ablate` names its run folders)."""
    return out / "table2" / "cells" / f"{slug(label)}_seed{seed}" / "checkpoint.pt"


def run_task_groups(out: Path, data: Path, caches: dict, txes: dict, config: ClaimsConfig, progress: bool) -> Path:
    """Every TASK_GROUPS row at the config's seeds; OUT/tasks/<group>/<task>/table.json."""
    for folder, cache, txe, tasks, rows in TASK_GROUPS:
        runs = config.srl_runs if tasks == ("srl",) else config.vidsitu_runs
        task_config = replace(TASK_PROFILES["tiny"], runs=runs, lvu_runs=config.lvu_runs)
        txe_path = txes[txe] if txe else None
        options = TaskOptions(rows=rows, progress=progress)
        run_tasks(tasks, task_config, caches[cache], data, out / "tasks" / folder, txe_path, TXE, options)
    return out / "tasks"


def score_grid(out: Path, data: Path, caches: dict[str, Path], config: ClaimsConfig, progress: bool) -> dict:
    """Each Table 2 cell on one validation set for every row: masked-centre-event retrieval over the VidSitu
    valid clips' 5 event tokens (CVRL cache; the same windows whatever the row's stride), and the SRL CIDEr
    of one fine-tuning run (seed 0) from the cell's TxE. {label: {seed: {"r1", "cider"}}}; OUT/table2/scores.json."""
    path = out / "table2" / "scores.json"
    scores = json.loads(path.read_text()) if path.is_file() else {}
    with EventCache(caches["cvrl"]) as cache:
        valid = without_lvu_overlap(load_event_features(cache, data, "valid"), lvu_videos(None, data))
    scored = [c for c, clip in enumerate(valid.clips) if clip.ann_idx not in valid.excluded]
    windows = valid.features[scored].numpy()  # (C', 5, D), the clips the task rows are scored on
    task_config = replace(TASK_PROFILES["tiny"], runs=1)
    for row in GRID:
        for seed in range(config.grid_runs):
            cell = scores.setdefault(row.label, {})
            if str(seed) in cell:
                continue
            checkpoint = grid_checkpoint(out, row.label, seed)
            _, txe = load_txe(checkpoint)
            with torch.no_grad():  # ranked against the targets it was trained to hit (the EMA projection)
                r1 = masked_event_retrieval(txe, windows, target_projection=load_target_projection(checkpoint))["r1"]
            srl_out = out / "table2" / "srl" / f"{slug(row.label)}_seed{seed}"
            options = TaskOptions(rows=("pretrained",), progress=progress)
            run_tasks(("srl",), task_config, caches["cvrl"], data, srl_out, checkpoint, TXE, options)
            table = json.loads((srl_out / "srl" / "table.json").read_text())
            cell[str(seed)] = {"r1": 100 * r1, "cider": table["rows"][0]["metrics"]["cider"]["values"][0]}
            path.write_text(json.dumps(scores, indent=1))
    return scores


def floors(data: Path) -> dict:
    """The trivial baseline of each task (majority / constant), scored like the learned rows (in %; MSE raw)."""
    root = vidsitu_root(data)
    train, valid = (load_vidsitu(root, split).clips for split in ("train", "valid"))
    labels = lvu_labels_root(data)
    lvu = {}
    for task in LVU_TASKS:
        train_labels = [record.label for record in load_lvu_task(labels, task, "train")]
        test_labels = [record.label for record in load_lvu_task(labels, task, "test")]
        scale = 1.0 if LVU_TASKS[task] == 0 else 100.0
        lvu[task] = scale * lvu_floor(task, train_labels, test_labels)
    return {
        "verb": {k: 100 * v for k, v in verb_floor(train, valid).items()},
        "relation": {k: 100 * v for k, v in relation_floor(train, valid).items()},
        "lvu": lvu,
    }
