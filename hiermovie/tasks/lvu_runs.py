"""`hiermovie task lvu`: the benchmark's version of the paper's Table 5, the 9 LVU tasks x the rows of
`lvu_tasks.LVU_ROWS`, `lvu_runs` seeds each, from the cache.

Every row is an Object Transformer fine-tuned per task (`lvu_tasks`). Before the runs, an instance-only
Object Transformer is pretrained once by masked-instance prediction on the instances of every cached video
that has some (labels unused), with the one training loop (`training.fit`: checkpoints, resume,
torchrun); every `instance` / `ot_pp` run starts its instance part from it. The scene pathway reads the
cached backbone tokens (`scene_sup`) or their TxE contextualization (`scene_ours`, `ot_pp`, needs
`--txe`), computed once with the frozen TxE.

OUT/lvu/runs.jsonl records finished runs (resume); OUT/lvu/table.{md,json} hold Table 5 on test (the
metric of the best val epoch) and on val, with #top-1 and mean rank over the 9 tasks. TensorBoard scalars:
OUT/lvu/object_transformer/tensorboard/ (the pretraining), OUT/lvu/tensorboard/<task>/<row>_seed<k>/ (each run).
"""

import json
from pathlib import Path

import numpy as np
import torch

from hiermovie.cache import EventCache, sha256_file
from hiermovie.checkpoint import load_checkpoint
from hiermovie.contextualize.export import embed_cache
from hiermovie.contextualize.model import load_txe
from hiermovie.datasets.lvu import LVU_SPLITS, LVU_TASKS, lvu_labels_root
from hiermovie.device import resolve_device
from hiermovie.distributed import init_distributed, shutdown
from hiermovie.errors import HiermovieError
from hiermovie.parallel import run_parallel, run_workers
from hiermovie.profiles import config_dict
from hiermovie.progress import progress_bar
from hiermovie.results import append_record, claim_folder, format_mean_se, mean_se, read_records
from hiermovie.schedules import linear_schedule
from hiermovie.tasks.config import TaskConfig, lvu_setup
from hiermovie.tasks.instance_pretraining import create_masked_instance_pretraining
from hiermovie.tasks.lvu_data import (
    cached_movie,
    load_movies,
    rank_rows,
    span_instances,
    train_span_start,
)
from hiermovie.tasks.lvu_tasks import (
    LVU_ROWS,
    SCENE_TOKENS,
    USES_INSTANCES,
    evaluation_spans,
    lvu_object_transformer,
    train_lvu_run,
)
from hiermovie.tasks.object_transformer import collate_instances
from hiermovie.tensorboard_log import available
from hiermovie.training import fit

OT_CHECKPOINT_KIND = "object_transformer"
OT_PRETRAIN_SEED = 0  # the initial weights of the pretrained Object Transformer and its prediction head
ROW_CELLS = {  # Table 5's first columns: (instance, scene)
    "instance": ("OT ({backbone})", "-"),
    "scene_sup": ("-", "Sup: backbone tokens ({backbone})"),
    "scene_ours": ("-", "ours: TxE tokens"),
    "ot_pp": ("OT ({backbone})", "ours: TxE tokens"),
}
TASK_COLUMNS = {  # paper Table 5's column names
    "relationship": "Relation",
    "way_speaking": "Speaking",
    "scene": "Scene",
    "director": "Director",
    "writer": "Writer",
    "year": "Year",
    "genre": "Genre",
    "like_ratio": "Like",
    "view_count": "Views",
}


def choose_lvu_rows(wanted: tuple[str, ...], has_txe: bool) -> tuple[str, ...]:
    """The rows to run: `wanted` (checked) or all of them; the TxE rows need a TxE checkpoint."""
    unknown = [row for row in wanted if row not in LVU_ROWS]
    if unknown:
        raise HiermovieError(f"unknown LVU row {unknown[0]!r}; choose from: {', '.join(LVU_ROWS)}")
    needs_txe = [row for row in wanted if SCENE_TOKENS[row] == "context"]
    if needs_txe and not has_txe:
        raise HiermovieError(f"LVU row {needs_txe[0]!r} needs a mask-prediction TxE checkpoint (--txe)")
    rows = wanted or LVU_ROWS
    return tuple(row for row in rows if has_txe or SCENE_TOKENS[row] != "context")


def run_lvu(
    config: TaskConfig,
    cache_path: Path,
    data: Path,
    out: Path,
    txe_path: Path | None = None,
    rows: tuple[str, ...] = (),
    device: str = "auto",
    skip_missing: bool = False,
    progress: bool = True,
    jobs: int | None = None,
) -> Path:
    """Pretrain the Object Transformer (once), run every missing (task, row, seed), write OUT/lvu/table.md;
    the runs in `jobs` worker processes (`parallel.run_workers`)."""
    folder = Path(out) / "lvu"
    labels = lvu_labels_root(data)
    rows = choose_lvu_rows(rows, txe_path is not None)
    stable = lvu_setup(config)  # what the runs depend on; more seeds later only add runs
    claim_folder(
        folder,
        {
            "config": config_dict(stable),
            "cache_manifest_sha256": sha256_file(Path(cache_path) / "manifest.json"),
            "txe_sha256": sha256_file(txe_path) if txe_path else None,
            "labels": str(labels.resolve()),
        },
    )
    with EventCache(cache_path) as cache:
        backbone = str(cache.attrs.get("backbone_config", {}).get("method", "?"))
        context = _contextual_tokens(cache, txe_path) if txe_path else None
        loaded: dict = {}  # each video read from the cache once, whatever the number of tasks labelling it
        datasets = {  # every label file is read (and checked) before any training
            task: {
                split: load_movies(cache, labels, task, split, context, skip_missing, loaded)[0] for split in LVU_SPLITS
            }
            for task in LVU_TASKS
        }
        ot_weights = None
        if any(USES_INSTANCES[row] for row in rows):
            ot_weights = _pretrained_object_transformer(cache, stable, folder / "object_transformer", device, progress)

    run_device = resolve_device(device)
    record = folder / "runs.jsonl"
    done = {(r["task"], r["row"], r["seed"]) for r in read_records(record)}
    todo = [(t, r, s) for t in LVU_TASKS for r in rows for s in range(config.lvu_runs) if (t, r, s) not in done]
    splits_of: dict[str, dict] = {}
    for task in {job[0] for job in todo}:  # evaluation spans of val and test, built once per task
        movies = datasets[task]
        spans = {split: evaluation_spans(movies[split], stable.lvu_span_sec) for split in ("val", "test")}
        splits_of[task] = {split: (movies[split], spans.get(split)) for split in LVU_SPLITS}

    def run(job: tuple[str, str, int]) -> dict:
        task, row, seed = job
        events = folder / "tensorboard" / task / f"{row}_seed{seed}"
        return train_lvu_run(task, row, seed, splits_of[task], stable, ot_weights, run_device, events)

    available()  # says here, before the workers fork, if TensorBoard logging is off

    bar = progress_bar(total=len(todo), desc="lvu", unit="run", enabled=progress)
    for (task, row, seed), result in run_parallel(run, todo, run_workers(run_device, jobs)):
        bar.set_postfix(task=task, row=row, seed=seed)
        bar.update()
        append_record(record, {"task": task, "row": row, "seed": seed, **result})
    bar.close()
    return _write_table(folder, rows, config.lvu_runs, backbone)


def _contextual_tokens(cache: EventCache, txe_path: Path) -> dict[str, np.ndarray]:
    """Video id -> (L, H) outputs of the frozen TxE for every token (windows at the TxE's stride)."""
    txe_config, txe = load_txe(txe_path)
    if txe_config.input_dim != cache.dim:
        raise HiermovieError(f"{txe_path}: TxE reads {txe_config.input_dim}-d features, the cache holds {cache.dim}-d")
    embeddings = embed_cache(cache, txe, txe_config.seq_len, txe_config.stride_sec)
    ids = np.array(embeddings.video_id)
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])  # (V,) first row of each video (sorted ids)
    ends = np.r_[starts[1:], len(ids)]
    return {ids[a]: embeddings.contextual[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)}


def _pretrained_object_transformer(cache: EventCache, config: TaskConfig, run: Path, device: str, progress: bool):
    """Masked-instance pretraining of the Object Transformer on every cached video with instances (once);
    the weights of the finished run (resumed from its checkpoint if interrupted)."""
    checkpoint = run / "checkpoint.pt"
    summary = run / "summary.json"
    # torch's global RNG starts from a different seed in every process: seed the initial weights (and the head's)
    torch.manual_seed(OT_PRETRAIN_SEED)
    model = lvu_object_transformer(config, cache.dim, None)  # instance-only
    if summary.is_file():
        model.load_state_dict(load_checkpoint(checkpoint, OT_CHECKPOINT_KIND)["object_transformer"])
        return model.state_dict()
    movies = [cached_movie(cache, v, 0.0, None) for v in cache.video_ids]
    movies = [movie for movie in movies if len(movie.instance_sec)]
    if not movies:
        raise HiermovieError(f"{cache.root}: no video in the cache has instance features (extract with --instances)")
    dist = init_distributed(device)
    try:
        pretraining = create_masked_instance_pretraining(model, config.ot_mask_prob).to(dist.device)
        optimizer = torch.optim.AdamW(pretraining.parameters(), lr=config.ot_pretrain_lr, weight_decay=0.01)
        mine = movies[dist.rank :: dist.world_size]
        steps_per_epoch = max(1, -(-len(mine) // config.lvu_batch_size))
        total = steps_per_epoch * config.ot_pretrain_epochs
        schedule = linear_schedule(config.ot_pretrain_lr, total, warmup_steps=total // 10)

        def batches(epoch: int, skip: int):
            rng = np.random.default_rng([epoch, dist.rank])
            span = config.lvu_span_sec
            spans = [span_instances(m, train_span_start(m.duration, span, rng), span) for m in mine]
            order = np.array_split(rng.permutation(len(mine)), steps_per_epoch)
            for k in range(skip, steps_per_epoch):
                examples = [spans[i] for i in order[k].tolist()]
                generator = torch.Generator().manual_seed(epoch * 100_003 + k)  # track-id permutation
                yield {"instances": collate_instances(examples, config.ot_max_instances, generator)}

        def step(net, batch, index):
            torch.manual_seed(index)  # box jitter and dropout: a function of the step, so a resumed run repeats it
            generator = torch.Generator().manual_seed(index * 1009 + dist.rank)  # masks
            return net(batch["instances"].to(dist.device), generator)

        record = fit(
            model=pretraining,
            optimizer=optimizer,
            lr_schedule=schedule,
            steps_per_epoch=steps_per_epoch,
            stop_step=total,
            batches=batches,
            step=step,
            out=run,
            kind=OT_CHECKPOINT_KIND,
            config=config,
            dist=dist,
            extra_state=lambda: {"object_transformer": model.state_dict()},
            progress=progress,
        )
        if dist.is_main:
            summary.write_text(json.dumps({**record, "videos": len(movies)}, indent=1))
    finally:
        shutdown()
    return {k: v.cpu() for k, v in model.state_dict().items()}


def _write_table(folder: Path, rows: tuple[str, ...], runs: int, backbone: str) -> Path:
    """OUT/lvu/table.json and table.md: Table 5 on test and on val (accuracy in %, MSE), #top-1, mean rank."""
    records = {(r["task"], r["row"], r["seed"]): r for r in read_records(folder / "runs.jsonl")}
    lower = {task: LVU_TASKS[task] == 0 for task in LVU_TASKS}
    table = {"runs": runs, "rows": rows, "splits": {}}
    markdown = []
    for split in ("test", "val"):
        cells = {}
        for row in rows:
            for task in LVU_TASKS:
                scale = 1.0 if lower[task] else 100.0
                values = [scale * records[(task, row, s)][split] for s in range(runs) if (task, row, s) in records]
                mean, error = mean_se(values)
                cells[(row, task)] = {"mean": mean, "se": error, "values": values}
        ranking = rank_rows({row: {t: cells[(row, t)]["mean"] for t in LVU_TASKS} for row in rows}, lower)
        table["splits"][split] = {
            row: {"tasks": {t: cells[(row, t)] for t in LVU_TASKS}, **ranking[row]} for row in rows
        }
        markdown += _markdown(split, rows, cells, ranking, backbone, runs)
    (folder / "table.json").write_text(json.dumps(table, indent=1))
    (folder / "table.md").write_text("\n".join(markdown) + "\n")
    return folder / "table.md"


def _markdown(split: str, rows, cells: dict, ranking: dict, backbone: str, runs: int) -> list[str]:
    arrows = [f"{TASK_COLUMNS[t]} ({'↓' if LVU_TASKS[t] == 0 else '↑'})" for t in LVU_TASKS]
    lines = [
        f"### Table 5: LVU, {split} split ({runs} runs; accuracy in %, MSE for Like and Views)",
        "",
        "| instance | scene | " + " | ".join(arrows) + " | #top-1 | mean rank |",
        "|---|---|" + "---|" * len(arrows) + "---|---|",
    ]
    for row in rows:
        instance, scene = (cell.format(backbone=backbone) for cell in ROW_CELLS[row])
        values = [format_mean_se(cells[(row, t)], digits=2 if LVU_TASKS[t] else 3) for t in LVU_TASKS]
        tail = f"{ranking[row]['top1']} | {ranking[row]['mean_rank']:.2f}"
        lines.append(f"| {instance} | {scene} | " + " | ".join(values) + f" | {tail} |")
    return [*lines, ""]
