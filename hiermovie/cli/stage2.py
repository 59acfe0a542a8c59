"""Stage-2 commands, from a cache: `txe pretrain`, `ablate`, `export`, `search`, `evaluate` and `task`."""

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from hiermovie.cli.common import (
    CacheOption,
    Device,
    DeviceOption,
    EpochsOption,
    JobsOption,
    LVUSplitOption,
    PretrainDataOption,
    Profile,
    ProfileOption,
    SeedOption,
    ValFractionOption,
    VideosOption,
    VidSituSplitOption,
    overridden,
    run,
)

app = typer.Typer()
txe_app = typer.Typer(help="Pretrain the TxE contextualizer from a cache.", no_args_is_help=True)


@txe_app.command("pretrain")
def txe_pretrain(
    cache: CacheOption,
    out: Annotated[Path, typer.Option(help="Run folder: checkpoint.pt, log.jsonl, loss.png (resumed if present).")],
    profile: ProfileOption = Profile.paper,
    epochs: EpochsOption = None,
    stride: Annotated[
        float | None,
        typer.Option(min=0, help="Token stride in s, a multiple of the cache's [default: the profile's, 2 s]."),
    ] = None,
    loss: Annotated[str, typer.Option(help="contrastive (Eq. 1) | l2.")] = "contrastive",
    mask_sampling: Annotated[str, typer.Option(help="uniform | max_discrepancy.")] = "uniform",
    mask_sizes: Annotated[str, typer.Option(help="Mask-size set, e.g. 1,2,3 (empty: 1..floor(0.6 N)).")] = "",
    target: Annotated[str, typer.Option(help="ema | live: the stop-gradient target projection.")] = "ema",
    hard_negatives: Annotated[
        int | None, typer.Option(min=0, help="Top-k hardest distractors via FAISS (0: all) [default: the profile's].")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Windows per step over all ranks [default: the profile's].")
    ] = None,
    val_fraction: ValFractionOption = 0.1,
    data: PretrainDataOption = None,
    vidsitu_split: VidSituSplitOption = None,
    lvu_split: LVUSplitOption = None,
    videos: VideosOption = None,
    device: DeviceOption = Device.auto,
    seed: SeedOption = 0,
    max_steps: Annotated[
        int | None,
        typer.Option(min=0, help="Stop after this many steps (0: score the untrained model) [default: all epochs]."),
    ] = None,
) -> None:
    """Pretrain TxE by event mask prediction (torchrun-ready)."""
    from hiermovie.contextualize.config import TXE_PROFILES
    from hiermovie.contextualize.data import VideoChoice
    from hiermovie.contextualize.pretrain import TxEOptions, pretrain_txe

    config = overridden(
        TXE_PROFILES[profile.value],
        epochs=epochs,
        stride_sec=stride,
        hard_negatives=hard_negatives,
        batch_size=batch_size,
        loss=loss,
        mask_sampling=mask_sampling,
        target=target,
        mask_sizes=_ints(mask_sizes, "--mask-sizes"),
    )
    choice = VideoChoice(data, vidsitu_split, lvu_split, videos)
    options = TxEOptions(device=device.value, seed=seed, val_fraction=val_fraction, max_steps=max_steps, videos=choice)
    summary = run(pretrain_txe, config, cache, out, options)
    typer.echo(
        f"{summary['checkpoint']}: pretrained on {summary['pretrained_on']}, step {summary['step']}; "
        "masked-event retrieval on "
        f"{summary['val_windows']} validation windows: R@1 {100 * summary['r1']:.2f}, "
        f"R@5 {100 * summary['r5']:.2f}, median rank {summary['median_rank']:.0f}"
    )


def _ints(text: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers, got {text!r}", param_hint=option) from None


@app.command()
def ablate(
    cache: CacheOption,
    out: Annotated[Path, typer.Option(help="Folder: table.md, table.csv, cells.jsonl (resumed), cells/.")],
    grid: Annotated[str, typer.Option(help="table2, or a JSON/TOML file of rows (label, overrides).")] = "table2",
    runs: Annotated[int, typer.Option(min=1, help="Seeds per row.")] = 3,
    profile: ProfileOption = Profile.paper,
    epochs: EpochsOption = None,
    val_fraction: ValFractionOption = 0.1,
    data: PretrainDataOption = None,
    vidsitu_split: VidSituSplitOption = None,
    lvu_split: LVUSplitOption = None,
    videos: VideosOption = None,
    device: DeviceOption = Device.auto,
    jobs: JobsOption = None,
) -> None:
    """Sweep TxE pretraining configs (Table 2) x seeds on one cache."""
    from hiermovie.contextualize.ablate import ablate as run_grid
    from hiermovie.contextualize.ablate import load_grid
    from hiermovie.contextualize.config import TXE_PROFILES
    from hiermovie.contextualize.data import VideoChoice
    from hiermovie.contextualize.pretrain import TxEOptions

    config = overridden(TXE_PROFILES[profile.value], epochs=epochs)
    choice = VideoChoice(data, vidsitu_split, lvu_split, videos)
    options = TxEOptions(device=device.value, val_fraction=val_fraction, videos=choice)
    table = run(lambda: run_grid(config, cache, load_grid(grid), runs, out, options, jobs))
    typer.echo(table.read_text())


class ExportFormat(StrEnum):
    npy = "npy"
    parquet = "parquet"
    hdf5 = "hdf5"
    faiss = "faiss"


@app.command()
def export(
    cache: CacheOption,
    out: Annotated[Path, typer.Option(help="Output file or folder.")],
    format: Annotated[ExportFormat, typer.Option(help="npy | parquet | hdf5 | faiss.")] = ExportFormat.parquet,
    txe: Annotated[Path | None, typer.Option(help="A TxE checkpoint: add contextualized embeddings.")] = None,
) -> None:
    """Export raw and contextualized event embeddings."""
    from hiermovie.contextualize.export import export_cache

    path = run(export_cache, cache, txe, format.value, out)
    typer.echo(f"{path}: written")


@app.command()
def search(
    index: Annotated[Path, typer.Option(help="An export (any format).")],
    event: Annotated[str | None, typer.Option(help="VIDEO:INDEX, an event of the export.")] = None,
    vector: Annotated[Path | None, typer.Option(help="A .npy query vector instead of --event.")] = None,
    k: Annotated[int, typer.Option("-k", min=1, help="How many neighbours.")] = 5,
) -> None:
    """Print the nearest events in an index."""
    from hiermovie.contextualize.export import search as nearest

    if (event is None) == (vector is None):
        raise typer.BadParameter("give exactly one of --event VIDEO:INDEX or --vector FILE.npy")
    for row in run(nearest, index, event if event is not None else vector, k):
        typer.echo(
            f"{row['rank']:>3}  {row['score']:.4f}  {row['video_id']}:{row['index']}  "
            f"[{row['start_sec']:.1f}, {row['end_sec']:.1f}) s"
        )


class VidSituTask(StrEnum):
    vb = "vb"
    srl = "srl"
    evrel = "evrel"


@app.command()
def evaluate(
    task: Annotated[VidSituTask, typer.Option(help="vb (verbs) | srl (semantic roles) | evrel (relations).")],
    pred: Annotated[Path, typer.Option(help="Predictions in VidSitu's format (JSON list of dicts).")],
    ann: Annotated[Path, typer.Option(help="VidSitu root with vidsitu_annotations/.")],
    split: Annotated[str, typer.Option(help="The split the ann_idx refer to.")] = "valid",
    allow_pickle: Annotated[bool, typer.Option(help="Also read .pkl predictions (only from trusted sources).")] = False,
    partial: Annotated[bool, typer.Option(help="Score only the clips present (VidSitu's debug_mode).")] = False,
) -> None:
    """Score VidSitu-format prediction files (VidSitu's protocol); an undefined metric is written as null."""
    import json
    import math

    from hiermovie.tasks.vidsitu_eval import evaluate as score_predictions

    metrics = run(score_predictions, task.value, pred, ann, split, allow_pickle, partial)
    # standard JSON has no NaN: an undefined metric (Rec@5 when no verb qualifies) is null
    defined = {key: None if math.isnan(value) else value for key, value in metrics.items()}
    typer.echo(json.dumps(defined, indent=1))


class TaskName(StrEnum):
    verb = "verb"
    srl = "srl"
    relation = "relation"
    all = "all"
    lvu = "lvu"


@app.command()
def task(
    name: Annotated[TaskName, typer.Argument(help="verb | srl | relation (VidSitu) | lvu (the 9 LVU tasks) | all.")],
    cache: CacheOption,
    data: Annotated[Path, typer.Option(help="The benchmark folder, or a VidSitu root / LVU lvu_1.0 folder.")],
    out: Annotated[Path, typer.Option(help="Folder: tables.md, <task>/table.{md,json}, runs.jsonl (resumed).")],
    txe: Annotated[Path | None, typer.Option(help="A mask-prediction TxE checkpoint: adds the TxE rows.")] = None,
    runs: Annotated[
        int | None, typer.Option(min=1, help="Seeds per row [default: the profile's; paper 10, LVU 5].")
    ] = None,
    rows: Annotated[str, typer.Option(help="Rows to run, e.g. features,pretrained or scene_ours (empty: all).")] = "",
    profile: ProfileOption = Profile.paper,
    epochs: EpochsOption = None,
    beam_size: Annotated[
        int | None, typer.Option(min=1, help="SRL decoding: 1 greedy, > 1 beam search [default: the profile's].")
    ] = None,
    skip_missing: Annotated[bool, typer.Option(help="LVU: leave out videos the cache lacks.")] = False,
    lvu_labels: Annotated[
        Path | None,
        typer.Option(help="VidSitu: valid clips of these LVU videos are not scored [default: --data's LVU labels]."),
    ] = None,
    device: DeviceOption = Device.auto,
    jobs: JobsOption = None,
) -> None:
    """Train and evaluate task heads from a cache: the paper's Tables 4, 1, 3 (VidSitu) and 5 (LVU)."""
    from hiermovie.contextualize.config import TXE_PROFILES
    from hiermovie.tasks.config import TASK_PROFILES
    from hiermovie.tasks.runs import ALL_TASKS, TaskOptions, run_tasks

    config = overridden(
        TASK_PROFILES[profile.value], runs=runs, lvu_runs=runs, epochs=epochs, lvu_epochs=epochs, beam_size=beam_size
    )
    tasks = ALL_TASKS if name is TaskName.all else (name.value,)
    chosen = tuple(r.strip() for r in rows.split(",") if r.strip())
    options = TaskOptions(device=device.value, rows=chosen, skip_missing=skip_missing, jobs=jobs, lvu_labels=lvu_labels)
    path = run(run_tasks, tasks, config, cache, data, out, txe, TXE_PROFILES[profile.value], options)
    typer.echo(path.read_text())
