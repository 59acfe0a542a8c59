"""The claims run's stage 2, all from the caches of stage 1, one function per table group: Table 4's verb
rows per backbone and backbone seed; Table 1's SRL rows (CVRL N and Sup N over backbone seeds); Table 2's
TxE grid on the LVU movies (whose `mask {1, 2, 3}` seed-0 cell is MaskPred-LVU), each cell scored on one
fixed validation set; Table 3's relation rows; Table 5's LVU rows; each with its ceiling. Every run is
recorded as it finishes and reused on a rerun (the resume of `run_tasks` and `ablate`)."""

import json
from dataclasses import replace
from pathlib import Path

import torch

from hiermovie.cache import EventCache
from hiermovie.claims.stage1 import BACKBONES, ClaimsRun, lvu_cache, oracle_cache, vidsitu_cache
from hiermovie.contextualize.ablate import TABLE2, GridRow, ablate
from hiermovie.contextualize.config import TXE_PROFILES
from hiermovie.contextualize.data import VideoChoice
from hiermovie.contextualize.model import load_target_projection, load_txe
from hiermovie.contextualize.pretrain import TxEOptions, pretrain_txe
from hiermovie.contextualize.retrieval import masked_event_retrieval
from hiermovie.datasets.lvu import LVU_TASKS, load_lvu_task, lvu_labels_root
from hiermovie.datasets.synth.oracle import ORACLE_PARTS
from hiermovie.datasets.vidsitu import load_vidsitu, source_video, vidsitu_root
from hiermovie.results import slug
from hiermovie.tasks.config import TASK_PROFILES
from hiermovie.tasks.floors import lvu_floor, relation_floor, verb_floor
from hiermovie.tasks.runs import TaskOptions, lvu_videos, run_tasks
from hiermovie.tasks.vidsitu_data import load_event_features, without_lvu_overlap

TXE = TXE_PROFILES["tiny"]
GRID = tuple(GridRow(label, overrides) for label, overrides in TABLE2 if overrides is not None)
LVU_TXE_CELL = "mask {1, 2, 3}"  # the grid's reference row (stride 2 s, uniform, contrastive) is MaskPred-LVU


def task_rows(
    run: ClaimsRun, folder: str, cache: Path, txe: Path | None, tasks: tuple[str, ...], rows: tuple, runs: int
) -> Path:
    """The rows of `tasks` at `runs` seeds from `cache` (and TxE checkpoint `txe`) in OUT/tasks/<folder>."""
    out = run.ledger.claim(run.out / "tasks" / folder, "tasks")
    task_config = replace(TASK_PROFILES["tiny"], runs=runs, lvu_runs=run.config.lvu_runs)
    options = TaskOptions(device=run.device, rows=rows, progress=run.progress)
    return run_tasks(tasks, task_config, cache, run.data, out, txe, TXE, options)


def txe_vs(run: ClaimsRun) -> Path:
    """MaskPred-VS: TxE pretrained on the VidSitu train clips of the CVRL (seed 0) cache (paper sec. 4)."""
    cache = vidsitu_cache(run, "cvrl", 0)
    folder = run.ledger.claim(run.out / "txe" / "vs", "txe")
    if not (folder / "summary.json").is_file():
        # the VidSitu cache holds each clip's 5 events as consecutive tokens: one window per clip, step 1
        config = replace(TXE, stride_sec=1.0, epochs=run.config.vs_txe_epochs, batch_size=run.config.txe_batch_size)
        videos = VideoChoice(data=run.data, vidsitu_split="train")
        pretrain_txe(config, cache, folder, TxEOptions(device=run.device, progress=False, videos=videos))
    return folder / "checkpoint.pt"


def grid_cells(run: ClaimsRun, rows: tuple[GridRow, ...], runs: int) -> Path:
    """Table 2's cells `rows` x `runs` seeds, pretrained on the LVU train movies; OUT/table2."""
    config = replace(TXE, epochs=run.config.lvu_txe_epochs, batch_size=run.config.txe_batch_size)
    options = TxEOptions(device=run.device, progress=False, videos=VideoChoice(data=run.data, lvu_split="train"))
    cache = lvu_cache(run)
    out = run.ledger.claim(run.out / "table2", "txe")
    ablate(config, cache, list(rows), runs, out, options)
    return out


def grid_checkpoint(out: Path, label: str, seed: int) -> Path:
    """The TxE checkpoint of one Table 2 cell (as `ablate` names its run folders)."""
    return out / "table2" / "cells" / f"{slug(label)}_seed{seed}" / "checkpoint.pt"


def txe_lvu(run: ClaimsRun) -> Path:
    """MaskPred-LVU: the grid's reference cell, seed 0 (pretrained alone when the grid has not run)."""
    grid_cells(run, tuple(row for row in GRID if row.label == LVU_TXE_CELL), 1)
    return grid_checkpoint(run.out, LVU_TXE_CELL, 0)


def table4(run: ClaimsRun) -> None:
    """Verbs from every backbone at every backbone seed, and the oracle ceiling."""
    config = run.config
    for seed in range(config.backbone_seeds):
        for name in BACKBONES:
            folder, cache = f"verb_{slug(name)}_seed{seed}", vidsitu_cache(run, name, seed)
            task_rows(run, folder, cache, None, ("verb",), ("features",), config.backbone_head_runs)
    task_rows(run, "oracle_verb", oracle_cache(run), None, ("verb",), ("features",), config.vidsitu_runs)


def table1(run: ClaimsRun) -> None:
    """SRL: the backbone-seed-0 rows with MaskPred-VS / -LVU, the blind floor, the oracle ceiling; TxE N on
    Sup and CVRL at every backbone seed (the backbone comparison)."""
    runs = run.config.srl_runs
    sup, cvrl = vidsitu_cache(run, "supervised", 0), vidsitu_cache(run, "cvrl", 0)
    task_rows(run, "srl_supervised_seed0", sup, None, ("srl",), ("features", "scratch"), runs)
    task_rows(run, "srl_cvrl_seed0", cvrl, txe_vs(run), ("srl",), ("blind", "scratch", "pretrained"), runs)
    task_rows(run, "srl_cvrl_lvu", cvrl, txe_lvu(run), ("srl",), ("pretrained",), runs)
    task_rows(run, "oracle_srl", oracle_cache(run), None, ("srl",), ("scratch",), runs)
    for seed in range(1, run.config.backbone_seeds):
        for name in ("supervised", "cvrl"):
            cache = vidsitu_cache(run, name, seed)
            task_rows(run, f"srl_{slug(name)}_seed{seed}", cache, None, ("srl",), ("scratch",), runs)


def table2(run: ClaimsRun) -> None:
    """Every grid cell at the grid seeds, then each scored on the fixed validation set."""
    grid_cells(run, GRID, run.config.grid_runs)
    score_grid(run)


def table3(run: ClaimsRun) -> None:
    """Relations from CVRL (with MaskPred-VS) and from the verb-reading Sup backbone, the oracle ceiling, and
    the oracle's parts (is a relation carried by the two events' verbs, or by who does them?)."""
    runs = run.config.vidsitu_runs
    cvrl, sup = vidsitu_cache(run, "cvrl", 0), vidsitu_cache(run, "supervised", 0)
    task_rows(run, "relation_cvrl_seed0", cvrl, txe_vs(run), ("relation",), ("features", "scratch", "pretrained"), runs)
    task_rows(run, "relation_supervised_seed0", sup, None, ("relation",), ("features", "scratch"), runs)
    task_rows(run, "oracle_relation", oracle_cache(run), None, ("relation",), ("features", "scratch"), runs)
    for part in ORACLE_PARTS:
        cache = oracle_cache(run, part)
        task_rows(run, f"oracle_relation_{slug(part)}", cache, None, ("relation",), ("scratch",), runs)


def table5(run: ClaimsRun) -> None:
    """The four LVU rows (CVRL cache, MaskPred-LVU) and the scene pathway on the oracle (the ceiling)."""
    task_rows(run, "lvu", lvu_cache(run), txe_lvu(run), ("lvu",), (), run.config.lvu_runs)
    task_rows(run, "lvu_oracle", oracle_cache(run), None, ("lvu",), ("scene_sup",), run.config.lvu_runs)


TABLE_RUNS = {"4": table4, "1": table1, "2": table2, "3": table3, "5": table5}


def score_grid(run: ClaimsRun) -> dict:
    """Each Table 2 cell on one validation set for every row: masked-centre-event retrieval over the VidSitu
    valid clips' 5 event tokens (CVRL cache; the same windows whatever the row's stride), and the SRL CIDEr
    of one fine-tuning run (seed 0) from the cell's TxE. {label: {seed: {"r1", "cider"}}};
    OUT/grid_scores/scores.json."""
    cvrl = vidsitu_cache(run, "cvrl", 0)
    folder = run.ledger.claim(run.out / "grid_scores", "tasks")
    path = folder / "scores.json"
    scores = json.loads(path.read_text()) if path.is_file() else {}
    with EventCache(cvrl) as cache:
        valid = without_lvu_overlap(load_event_features(cache, run.data, "valid"), lvu_videos(None, run.data))
    scored = [c for c, clip in enumerate(valid.clips) if clip.ann_idx not in valid.excluded]
    windows = valid.features[scored].numpy()  # (C', 5, D), the clips the task rows are scored on
    task_config = replace(TASK_PROFILES["tiny"], runs=1)
    for row in GRID:
        for seed in range(run.config.grid_runs):
            cell = scores.setdefault(row.label, {})
            if str(seed) in cell:
                continue
            checkpoint = grid_checkpoint(run.out, row.label, seed)
            _, txe = load_txe(checkpoint)
            with torch.no_grad():  # ranked against the targets it was trained to hit (the EMA projection)
                r1 = masked_event_retrieval(txe, windows, target_projection=load_target_projection(checkpoint))["r1"]
            srl_out = folder / "srl" / f"{slug(row.label)}_seed{seed}"
            options = TaskOptions(device=run.device, rows=("pretrained",), progress=run.progress)
            run_tasks(("srl",), task_config, cvrl, run.data, srl_out, checkpoint, TXE, options)
            table = json.loads((srl_out / "srl" / "table.json").read_text())
            cell[str(seed)] = {"r1": 100 * r1, "cider": table["rows"][0]["metrics"]["cider"]["values"][0]}
            path.write_text(json.dumps(scores, indent=1))
    return scores


def floors(data: Path) -> dict:
    """The trivial baseline of each task (majority / constant), scored like the learned rows, on the same
    clips (without the valid clips cut from LVU movies) (in %; MSE raw)."""
    root, overlap = vidsitu_root(data), lvu_videos(None, data)
    train = load_vidsitu(root, "train").clips
    valid = [clip for clip in load_vidsitu(root, "valid").clips if source_video(clip.clip_id) not in overlap]
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
