"""`hiermovie task verb|srl|relation|all`: the benchmark's versions of the paper's Tables 4, 1 and 3.

Each table row is an event encoder in front of the task's head, trained `runs` times with seeds
0..runs-1 (paper: 10 runs, mean and standard error):

- `blind`      (SRL only) the visual-blind baseline: TxD sees the given verb and no video (paper: GPT2 row);
- `features`   the cached backbone features as they are (paper: Slow-D, Slow-D+TxD);
- `scratch`    TxE from random weights, trained with the head (paper: TxE pretrain "N");
- `pretrained` TxE from a mask-prediction checkpoint (`--txe`), fine-tuned with the head ("MaskPred").

A run trains on VidSitu train, predicts valid every epoch and keeps the best epoch (VidSitu's model
selection on valid); its predictions are saved in VidSitu's format so `hiermovie evaluate` rescores them.
OUT/<task>/runs.jsonl records finished runs: an interrupted command resumes with the next run.
OUT/<task>/tensorboard/<row>_seed<k>/ holds each run's TensorBoard scalars: loss and lr every step, the
selecting metric on valid every epoch.
"""

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from hiermovie.cache import EventCache, sha256_file
from hiermovie.contextualize.config import TXE_PROFILES, TxEConfig
from hiermovie.contextualize.model import create_txe, load_txe
from hiermovie.datasets.lvu import lvu_labels_root, lvu_youtube_ids
from hiermovie.datasets.vidsitu import vidsitu_root
from hiermovie.device import autocast, resolve_device
from hiermovie.errors import HiermovieError
from hiermovie.parallel import run_parallel, run_workers
from hiermovie.progress import progress_bar
from hiermovie.results import append_record, claim_folder, format_mean_se, mean_se, read_records
from hiermovie.tasks.config import TaskConfig, vidsitu_setup
from hiermovie.tasks.lvu_runs import run_lvu
from hiermovie.tasks.lvu_tasks import LVU_ROWS
from hiermovie.tasks.models import EventEncoder
from hiermovie.tasks.vidsitu_data import load_event_features, without_lvu_overlap
from hiermovie.tasks.vidsitu_tasks import TASKS, VidSituTask
from hiermovie.tensorboard_log import EventLog, available

TASK_ORDER = ("verb", "srl", "relation")  # the paper's Tables 4, 1, 3
ALL_TASKS = (*TASK_ORDER, "lvu")  # and Table 5
ROWS = ("blind", "features", "scratch", "pretrained")
TASK_ROWS = {"verb": ROWS[1:], "srl": ROWS, "relation": ROWS[1:]}
TABLE_TITLES = {
    "verb": "Table 4: verb prediction (VidSitu valid)",
    "srl": "Table 1: semantic role prediction (VidSitu valid)",
    "relation": "Table 3: event relation prediction (VidSitu valid)",
}
# (column, metric key) per task, as in the paper; every value is shown in %
COLUMNS = {
    "verb": (("Acc@1", "acc1"), ("Acc@5", "acc5"), ("Rec@5", "rec5")),
    "srl": (
        ("CIDEr", "cider"),
        ("CIDEr-verb", "MacroVb_cider"),
        ("CIDEr-arg", "MacroArg_cider"),
        ("ROUGE-L", "rouge"),
        ("LEA", "lea"),
    ),
    "relation": (("Mean-Acc", "Macro_Top_1"), ("Top1-Acc", "Top_1")),
}
# the note's question: does mask-prediction pretraining of TxE beat TxE from scratch?
COMPARED = {"srl": "cider", "relation": "Macro_Top_1", "verb": "acc1"}


@dataclass(frozen=True)
class TaskOptions:
    device: str = "auto"
    rows: tuple[str, ...] = ()  # () = every row the inputs allow
    skip_missing: bool = False  # LVU: leave out videos the cache lacks (default: an error)
    progress: bool = True
    jobs: int | None = None  # worker processes for the runs; None: one per core on the CPU, 1 on CUDA
    # VidSitu valid clips cut from these LVU videos (an lvu_1.0 or benchmark folder) are not scored (paper
    # sec. 4); None: the LVU labels of the data folder, if it has them (the benchmark does)
    lvu_labels: Path | None = None


def choose_rows(task: str, wanted: tuple[str, ...], has_txe: bool) -> tuple[str, ...]:
    """The rows to run: `wanted` (checked) or every row of the task; `pretrained` needs a TxE checkpoint."""
    allowed = TASK_ROWS[task]
    unknown = [row for row in wanted if row not in ROWS]
    if unknown:
        raise HiermovieError(f"unknown row {unknown[0]!r}; choose from: {', '.join(ROWS)}")
    if "pretrained" in wanted and not has_txe:
        raise HiermovieError("row 'pretrained' needs a mask-prediction TxE checkpoint (--txe)")
    rows = [row for row in (wanted or allowed) if row in allowed]
    if not has_txe:
        rows = [row for row in rows if row != "pretrained"]
    return tuple(rows)


def run_tasks(
    tasks: tuple[str, ...],
    config: TaskConfig,
    cache_path: Path,
    data: Path,
    out: Path,
    txe_path: Path | None = None,
    scratch_txe: TxEConfig = TXE_PROFILES["paper"],
    options: TaskOptions = TaskOptions(),
) -> Path:
    """Run every (row, seed) of each task not yet recorded; write OUT/<task>/table.{md,json} and OUT/tables.md.

    The `scratch` row's TxE has the architecture of the `--txe` checkpoint when one is given, so the two
    TxE rows differ only in their initial weights; otherwise that of `scratch_txe`. `options.rows` may mix
    VidSitu and LVU row names; each family takes its own.
    """
    out = Path(out)
    unknown = [row for row in options.rows if row not in ROWS and row not in LVU_ROWS]
    if unknown:
        raise HiermovieError(f"unknown row {unknown[0]!r}; choose from: {', '.join((*ROWS, *LVU_ROWS))}")
    vidsitu = tuple(task for task in tasks if task in TASK_ORDER)
    if vidsitu:
        rows = tuple(row for row in options.rows if row in ROWS) if options.rows else ()
        _run_vidsitu(vidsitu, config, cache_path, data, out, txe_path, scratch_txe, replace(options, rows=rows))
    if "lvu" in tasks:
        rows = tuple(row for row in options.rows if row in LVU_ROWS)
        lvu_options = (options.device, options.skip_missing, options.progress, options.jobs)
        run_lvu(config, cache_path, data, out, txe_path, rows, *lvu_options)
    return _write_summary(out)


def lvu_videos(labels: Path | None, data: Path) -> set[str]:
    """The YouTube ids of every LVU video in `labels`, or in `data` when it holds LVU labels; else none."""
    if labels is not None:
        return lvu_youtube_ids(lvu_labels_root(labels))
    try:
        return lvu_youtube_ids(lvu_labels_root(data))
    except HiermovieError:  # a VidSitu folder alone: nothing to remove
        return set()


def _run_vidsitu(tasks, config, cache_path, data, out, txe_path, scratch_txe, options: TaskOptions) -> None:
    device = resolve_device(options.device)
    txe = _txe_source(txe_path)
    with EventCache(cache_path) as cache:
        backbone = str(cache.attrs.get("backbone_config", {}).get("method", "?"))
        train, valid = (load_event_features(cache, data, split) for split in ("train", "valid"))
    valid = without_lvu_overlap(valid, lvu_videos(options.lvu_labels, data))
    if options.progress:
        print(
            f"VidSitu valid: {len(valid.excluded)} of {len(valid.clips)} clips come from LVU videos and are not "
            "scored (the paper removes the 241 that overlap LVU)",
            flush=True,
        )
    if txe is not None and txe[0].input_dim != train.features.shape[-1]:
        raise HiermovieError(
            f"{txe_path}: TxE reads {txe[0].input_dim}-d features, the cache holds {train.features.shape[-1]}-d"
        )
    setup = {  # what the recorded runs depend on; more --runs later only adds seeds
        "config": vidsitu_setup(config),
        "cache_manifest_sha256": sha256_file(Path(cache_path) / "manifest.json"),
        "txe_sha256": sha256_file(txe_path) if txe_path else None,
        "vidsitu": str(vidsitu_root(data).resolve()),
        "unscored_lvu_overlap": sorted(valid.excluded),  # ann_idx
    }
    for name in tasks:
        folder = out / name
        claim_folder(folder, setup)
        task = TASKS[name](train, valid, config, device)
        rows = choose_rows(name, options.rows, txe is not None)
        scratch = txe[0] if txe is not None else replace(scratch_txe, input_dim=train.features.shape[-1])
        _run_rows(task, rows, config, (scratch, txe[1] if txe else None), folder, device, options)
        _write_table(name, rows, config.runs, backbone, folder)


def _txe_source(txe_path: Path | None) -> tuple[TxEConfig, dict] | None:
    """(config, weights) of the pretrained TxE, or None."""
    if txe_path is None:
        return None
    config, model = load_txe(txe_path)
    return config, model.state_dict()


def _run_rows(task: VidSituTask, rows, config: TaskConfig, txe, folder: Path, device, options: TaskOptions):
    record = folder / "runs.jsonl"
    done = {(r["row"], r["seed"]) for r in read_records(record)}
    todo = [(row, seed) for row in rows for seed in range(config.runs) if (row, seed) not in done]
    if hasattr(task, "save"):
        task.save(folder)
    (folder / "predictions").mkdir(exist_ok=True)

    def run(job: tuple[str, int]):
        row, seed = job
        return train_run(task, row, seed, config, txe, device, folder / "tensorboard" / f"{row}_seed{seed}")

    available()  # says here, before the workers fork, if TensorBoard logging is off

    bar = progress_bar(total=len(todo), desc=task.name, unit="run", enabled=options.progress)
    for (row, seed), (metrics, predictions, epoch) in run_parallel(run, todo, run_workers(device, options.jobs)):
        bar.set_postfix(row=row, seed=seed)
        bar.update()
        prediction_file = folder / "predictions" / f"{row}_seed{seed}.json"
        partial = prediction_file.with_suffix(".partial")
        partial.write_text(json.dumps(predictions))
        partial.replace(prediction_file)
        append_record(record, {"row": row, "seed": seed, "best_epoch": epoch, "metrics": metrics})
    bar.close()


def make_encoder(row: str, input_dim: int, txe: tuple[TxEConfig, dict | None]) -> EventEncoder | None:
    """The event encoder of a table row (None for the visual-blind row); `txe` = (TxE config, pretrained
    weights or None). Call after seeding: the scratch TxE and the heads draw their initial weights."""
    if row == "blind":
        return None
    if row == "features":
        return EventEncoder(input_dim)
    model = create_txe(txe[0])
    if row == "pretrained":
        model.load_state_dict(txe[1])
    return EventEncoder(input_dim, model)


def train_run(
    task: VidSituTask, row: str, seed: int, config: TaskConfig, txe, device: torch.device, events: Path | None = None
):
    """Train one (row, seed); (valid metrics of the best epoch, its predictions, that epoch). `events`: a folder
    for its TensorBoard scalars (a rerun of a killed run replaces them)."""
    torch.manual_seed(seed)
    input_dim = task.train.features.shape[-1]
    model = task.build(make_encoder(row, input_dim, txe)).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, betas=(0.9, 0.99))  # VidSitu's optimiser
    generator = torch.Generator().manual_seed(seed)
    best: tuple[float, list, int] | None = None  # (selection metric, predictions, epoch)
    step = 0
    with EventLog(events, purge_step=1) as log:
        for epoch in range(config.epochs):
            model.train()
            for rows in torch.randperm(len(task.train.clips), generator=generator).split(config.batch_size):
                with autocast(device):
                    loss = task.loss(model, rows.to(device))
                if not torch.isfinite(loss):
                    where = f"{task.name} ({row}, seed {seed})"
                    raise HiermovieError(f"{where}: loss is {loss.item()} in epoch {epoch + 1}")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                log.scalars(step, {"loss": loss.item(), "lr": config.lr})
            model.eval()
            with torch.no_grad(), autocast(device):
                predictions = task.predict(model)
            value = task.selection(predictions)
            log.scalars(step, {"epoch": epoch + 1, task.select: value})
            if best is None or value > best[0]:
                best = (value, predictions, epoch + 1)
    _, predictions, epoch = best
    return task.score(predictions), predictions, epoch


def row_cells(task: str, row: str, backbone: str) -> tuple[str, str, str]:
    """The paper's first columns for a row: (model, backbone pretrain, TxE pretrain)."""
    if row == "blind":
        return "text only (verb given)", "-", "-"
    model = "Slow-D" + ("" if row == "features" else "+TxE") + ("+TxD" if task == "srl" else "")
    return model, backbone, {"features": "-", "scratch": "N", "pretrained": "MaskPred"}[row]


def _write_table(task: str, rows: tuple[str, ...], runs: int, backbone: str, folder: Path) -> None:
    """OUT/<task>/table.json and table.md: mean ± standard error (in %) over the recorded seeds of each row."""
    records = {(r["row"], r["seed"]): r["metrics"] for r in read_records(folder / "runs.jsonl")}
    table = {"task": task, "title": TABLE_TITLES[task], "runs": runs, "rows": []}
    for row in rows:
        seeds = [seed for seed in range(runs) if (row, seed) in records]
        model, pretrain, txe = row_cells(task, row, backbone)
        metrics = {}
        for _, key in COLUMNS[task]:
            values = [100 * records[(row, seed)][key] for seed in seeds]
            mean, error = mean_se(values)
            metrics[key] = {"mean": mean, "se": error, "values": values}
        table["rows"].append({"row": row, "model": model, "backbone": pretrain, "txe": txe, "metrics": metrics})
    table["comparison"] = _compare(task, table["rows"])
    (folder / "table.json").write_text(json.dumps(table, indent=1))
    (folder / "table.md").write_text(_markdown(table))


def _compare(task: str, rows: list[dict]) -> dict | None:
    """MaskPred minus N on the task's headline metric: difference of means, its standard error, seed wins."""
    by_row = {row["row"]: row["metrics"][COMPARED[task]] for row in rows}
    if not {"scratch", "pretrained"} <= set(by_row):
        return None
    pretrained, scratch = by_row["pretrained"], by_row["scratch"]
    wins = sum(p > s for p, s in zip(pretrained["values"], scratch["values"], strict=False))
    return {
        "metric": COMPARED[task],
        "difference": pretrained["mean"] - scratch["mean"],
        "se": math.hypot(pretrained["se"], scratch["se"]),
        "pretrained_wins": wins,
        "seeds": min(len(pretrained["values"]), len(scratch["values"])),
    }


def _markdown(table: dict) -> str:
    columns = COLUMNS[table["task"]]
    lines = [
        f"### {table['title']}",
        "",
        "| model | backbone pretrain | TxE pretrain | " + " | ".join(name for name, _ in columns) + " | runs |",
        "|---|---|---|" + "---|" * len(columns) + "---|",
    ]
    for row in table["rows"]:
        cells = [format_mean_se(row["metrics"][key]) for _, key in columns]
        runs = len(row["metrics"][columns[0][1]]["values"])
        lines.append(f"| {row['model']} | {row['backbone']} | {row['txe']} | " + " | ".join(cells) + f" | {runs} |")
    comparison = table["comparison"]
    if comparison is not None:
        name = next(name for name, key in columns if key == comparison["metric"])
        lines += [
            "",
            f"MaskPred minus N (TxE from scratch) on {name}: {comparison['difference']:+.2f} ± {comparison['se']:.2f} "
            f"(standard error of the difference); MaskPred higher in {comparison['pretrained_wins']} of "
            f"{comparison['seeds']} seeds.",
        ]
    return "\n".join(lines) + "\n"


def _write_summary(out: Path) -> Path:
    """OUT/tables.md: every task table written so far, in the paper's order of the tasks."""
    parts = [(out / task / "table.md").read_text() for task in ALL_TASKS if (out / task / "table.md").is_file()]
    path = out / "tables.md"
    path.write_text("# Tasks from the cache\n\nMean ± standard error over seeds.\n\n" + "\n".join(parts))
    return path
