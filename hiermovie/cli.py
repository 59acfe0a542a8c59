"""The `hiermovie` command line: parses options, builds a config, calls one library function.

User errors (bad files, bad options) and environment errors (a full disk, an unwritable path) print one line
on stderr and exit 2, without a traceback.
"""

import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from tqdm import tqdm

from hiermovie import progress
from hiermovie.errors import HiermovieError

app = typer.Typer(
    help="Hierarchical self-supervised movie understanding: extract event features once (stage 1), "
    "contextualize and solve tasks from the cache (stage 2).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
Result = TypeVar("Result")


@app.callback()
def _global_options(
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars, for scripted runs.")] = False,
) -> None:
    """Options of every command, given before it: `hiermovie --quiet extract ...`."""
    progress.quiet(quiet)


def _run(function: Callable[..., Result], *args, **kwargs) -> Result:
    """Call a library function; turn user errors into a one-line message and exit code 2."""
    try:
        return function(*args, **kwargs)
    except HiermovieError as error:
        _fail(str(error))
    except OSError as error:  # a full disk, an unwritable or vanished path: the environment, not a bug
        _fail(f"{error.filename}: {error.strerror or error}" if error.filename else str(error))
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None


def _fail(message: str) -> NoReturn:
    """End the progress bars still open (so the message gets its own line), print it, exit 2."""
    for bar in list(getattr(tqdm, "_instances", ())):
        bar.close()
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


class Size(StrEnum):
    tiny = "tiny"
    demo = "demo"
    full = "full"


@app.command()
def synth(
    out: Annotated[Path, typer.Option(help="Folder to write the benchmark into.")],
    size: Annotated[
        Size, typer.Option(help="tiny: tests, seconds; demo: `make demo`, under a minute; full.")
    ] = Size.demo,
    seed: Annotated[int, typer.Option(min=0, help="Everything generated is a function of the seed.")] = 0,
    jobs: Annotated[int, typer.Option(min=0, help="Rendering processes (0: one per CPU core).")] = 0,
    force: Annotated[bool, typer.Option(help="Replace OUT if it holds anything else.")] = False,
) -> None:
    """Generate the embedded toy-movie benchmark (videos, labels)."""
    from dataclasses import replace

    from hiermovie.datasets.config import SYNTH_SIZES
    from hiermovie.datasets.synth.generate import generate

    config = replace(SYNTH_SIZES[size.value], seed=seed)
    manifest = _run(generate, config, out, jobs=jobs or None, force=force)
    typer.echo(
        f"{out}: {sum(manifest['vidsitu_clips'].values())} VidSitu clips, "
        f"{sum(manifest['lvu_movies'].values())} LVU movies, {sum(manifest['kinetics_clips'].values())} action "
        f"clips ({manifest['video_seconds']:.0f} s of video, {manifest['bytes'] / 2**20:.1f} MiB, "
        f"generated in {manifest['seconds']:.1f} s)"
    )


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Run folder: data, stage outputs and report.md.")] = Path("runs/demo"),
    size: Annotated[Size, typer.Option(help="Benchmark size.")] = Size.demo,
    seed: Annotated[int, typer.Option(min=0, help="Benchmark seed.")] = 0,
    jobs: Annotated[int, typer.Option(min=0, help="Processes (0: one per CPU core).")] = 0,
) -> None:
    """Run every built stage on the benchmark; write report.md."""
    from hiermovie.demo import run_demo

    report = _run(run_demo, out, size=size.value, seed=seed, jobs=jobs or None)
    typer.echo(f"report: {report}")


class Profile(StrEnum):
    tiny = "tiny"
    paper = "paper"


class Device(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


class Method(StrEnum):
    cvrl = "cvrl"
    modist = "modist"
    supervised = "supervised"


class Motion(StrEnum):
    diff = "diff"
    farneback = "farneback"
    flow_files = "flow_files"


backbone_app = typer.Typer(help="Pretrain, finetune or probe the Slow-D backbone.", no_args_is_help=True)
app.add_typer(backbone_app, name="backbone")
ProfileOption = Annotated[
    Profile, typer.Option(help="paper: the paper's model sizes; tiny: the same code for 2 CPU cores.")
]
DeviceOption = Annotated[Device, typer.Option(help="auto: CUDA when available.")]
WorkersOption = Annotated[int, typer.Option(min=0, help="Decoding processes per rank.")]
AutoWorkersOption = Annotated[
    int | None,
    typer.Option(min=0, help="Decoding processes per rank [default: on CPU half the cores, the rest compute; CUDA 2]."),
]
SeedOption = Annotated[int, typer.Option(min=0, help="Seed of initial weights, data order and augmentation.")]
MaxStepsOption = Annotated[int, typer.Option(min=0, help="Stop after this many steps (0: train all epochs).")]
EpochsOption = Annotated[int, typer.Option(min=0, help="Override the profile's epochs (0: keep).")]
CheckpointOption = Annotated[Path | None, typer.Option(help="A hiermovie backbone checkpoint (its config wins).")]
InitOption = Annotated[Path | None, typer.Option(help="Released weights to start from (pytorchvideo or PySlowFast).")]


def _overridden(config, **overrides):
    from dataclasses import replace

    return replace(config, **{k: v for k, v in overrides.items() if v})


@backbone_app.command("pretrain")
def backbone_pretrain(
    data: Annotated[Path, typer.Option(help="Videos: a folder of class folders, or a `path label` list.")],
    out: Annotated[Path, typer.Option(help="Run folder: checkpoint.pt, log.jsonl, loss.png (resumed if present).")],
    method: Annotated[Method, typer.Option(help="cvrl | modist | supervised.")] = Method.cvrl,
    profile: ProfileOption = Profile.paper,
    epochs: EpochsOption = 0,
    batch_size: Annotated[int, typer.Option(min=0, help="Override the global batch size (0: keep).")] = 0,
    motion: Annotated[Motion, typer.Option(help="MoDist motion input.")] = Motion.diff,
    flow_dir: Annotated[Path | None, typer.Option(help="{video stem}.npy flow files (--motion flow_files).")] = None,
    init: InitOption = None,
    device: DeviceOption = Device.auto,
    workers: AutoWorkersOption = None,
    seed: SeedOption = 0,
    max_steps: MaxStepsOption = 0,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="Save every N steps (and every epoch).")] = 50,
    strict: Annotated[bool, typer.Option(help="Fail on an unreadable video instead of skipping it.")] = False,
) -> None:
    """Pretrain Slow-D: CVRL, MoDist or supervised (torchrun-ready)."""
    from hiermovie.extract.config import BACKBONE_PROFILES
    from hiermovie.extract.pretrain import PretrainOptions, pretrain

    config = _overridden(BACKBONE_PROFILES[profile.value], method=method.value, epochs=epochs, batch_size=batch_size)
    options = PretrainOptions(
        device=device.value,
        workers=workers,
        seed=seed,
        strict=strict,
        max_steps=max_steps or None,
        motion=motion.value,
        flow_dir=flow_dir,
        init=init,
        checkpoint_every=checkpoint_every,
    )
    result = _run(pretrain, config, data, out, options)
    typer.echo(
        f"{result['checkpoint']}: step {result['step']}, loss {result.get('loss', float('nan')):.4f}, "
        f"{result['skipped']} unreadable videos skipped (listed in {out / 'skipped.txt'})"
    )


@backbone_app.command("finetune-verbs")
def backbone_finetune_verbs(
    vidsitu: Annotated[Path, typer.Option(help="VidSitu root (vidsitu_annotations/, vsitu_video_trimmed_dir/).")],
    out: Annotated[Path, typer.Option(help="Run folder (resumed if present).")],
    backbone: CheckpointOption = None,
    init: InitOption = None,
    profile: ProfileOption = Profile.paper,
    epochs: EpochsOption = 0,
    device: DeviceOption = Device.auto,
    workers: WorkersOption = 2,
    seed: SeedOption = 0,
    max_steps: MaxStepsOption = 0,
) -> None:
    """Finetune backbone + verb head on VidSitu verbs."""
    from hiermovie.extract.config import BACKBONE_PROFILES, VERB_FINETUNE_PROFILES
    from hiermovie.extract.verbs import VerbRunOptions, finetune_verbs

    config = _overridden(VERB_FINETUNE_PROFILES[profile.value], epochs=epochs)
    options = VerbRunOptions(device=device.value, workers=workers, seed=seed, max_steps=max_steps or None)
    result = _run(finetune_verbs, BACKBONE_PROFILES[profile.value], config, vidsitu, out, backbone, init, options)
    typer.echo(_verb_line(result))


@backbone_app.command("probe")
def backbone_probe(
    vidsitu: Annotated[Path, typer.Option(help="VidSitu root (vidsitu_annotations/, vsitu_video_trimmed_dir/).")],
    backbone: CheckpointOption = None,
    init: InitOption = None,
    profile: ProfileOption = Profile.paper,
    device: DeviceOption = Device.auto,
    workers: WorkersOption = 2,
    seed: SeedOption = 0,
    out: Annotated[Path | None, typer.Option(help="Also write the metrics to this JSON file.")] = None,
) -> None:
    """Linear verb probe on frozen pooled features."""
    import json

    from hiermovie.extract.config import BACKBONE_PROFILES, VERB_FINETUNE_PROFILES
    from hiermovie.extract.verbs import VerbRunOptions, probe_verbs

    options = VerbRunOptions(device=device.value, workers=workers, seed=seed)
    metrics = _run(
        probe_verbs,
        BACKBONE_PROFILES[profile.value],
        VERB_FINETUNE_PROFILES[profile.value],
        vidsitu,
        backbone,
        init,
        options,
    )
    if out is not None:
        out.write_text(json.dumps(metrics, indent=1))
    typer.echo(_verb_line(metrics))


class Dtype(StrEnum):
    float16 = "float16"
    float32 = "float32"


@app.command()
def extract(
    backbone: Annotated[Path, typer.Option(help="A hiermovie backbone checkpoint (`backbone pretrain` output).")],
    data: Annotated[Path, typer.Option(help="A benchmark folder, any folder of videos, or a list of video paths.")],
    out: Annotated[Path, typer.Option(help="Cache folder (resumed if present).")],
    stride: Annotated[float, typer.Option(min=0, help="Window of long videos in s (0: the profile's 2 s).")] = 0,
    profile: ProfileOption = Profile.paper,
    dtype: Annotated[Dtype, typer.Option(help="Feature dtype in the shards.")] = Dtype.float16,
    lzf: Annotated[bool, typer.Option(help="Compress shards with lzf (never gzip: slow random reads).")] = False,
    instances: Annotated[Path | None, typer.Option(help="Folder of {video id}.json instance tracks.")] = None,
    videos_per_shard: Annotated[int, typer.Option(min=0, help="Videos per shard (0: the profile's).")] = 0,
    device: DeviceOption = Device.auto,
    workers: WorkersOption = 2,
    strict: Annotated[bool, typer.Option(help="Stop at an unreadable video instead of recording it.")] = False,
) -> None:
    """Extract event features into HDF5 shards (torchrun-ready)."""
    from hiermovie.extract.config import EXTRACT_PROFILES
    from hiermovie.extract.featurize import ExtractOptions, extract, summary_line

    config = _overridden(
        EXTRACT_PROFILES[profile.value],
        stride_sec=stride,
        dtype=dtype.value,
        compression="lzf" if lzf else None,
        videos_per_shard=videos_per_shard,
    )
    options = ExtractOptions(device=device.value, workers=workers, strict=strict, instances=instances)
    typer.echo(summary_line(_run(extract, backbone, data, out, config, options), out))


cache_app = typer.Typer(help="Inspect or verify an event-feature cache.", no_args_is_help=True)
app.add_typer(cache_app, name="cache")
CacheArgument = Annotated[Path, typer.Argument(help="The cache folder.")]


@cache_app.command("info")
def cache_info(cache: CacheArgument) -> None:
    """Summarise a cache: videos, tokens, dims, provenance, failures."""
    import json

    from hiermovie.cache import EventCache

    with _run(EventCache, cache) as opened:
        typer.echo(json.dumps(opened.info(), indent=1))


@cache_app.command("verify")
def cache_verify(cache: CacheArgument) -> None:
    """Check every shard's checksum and shapes against the manifest."""
    from hiermovie.cache import EventCache

    with _run(EventCache, cache) as opened:
        problems = opened.verify()
    for problem in problems:
        typer.echo(f"error: {problem}", err=True)
    if problems:
        raise typer.Exit(1)
    typer.echo(f"{cache}: all shards match the manifest")


@cache_app.command("probe")
def cache_probe(
    cache: CacheArgument,
    data: Annotated[Path, typer.Option(help="The benchmark folder or a VidSitu root (its train and valid).")],
) -> None:
    """What the VidSitu tokens carry: linear probes for verb, acting character and place, against chance."""
    from hiermovie.tasks.feature_probe import probe_event_features, probe_table

    typer.echo(probe_table(_run(probe_event_features, cache, data)))


txe_app = typer.Typer(help="Pretrain the TxE contextualizer from a cache.", no_args_is_help=True)
app.add_typer(txe_app, name="txe")
CacheOption = Annotated[Path, typer.Option(help="An event cache (`hiermovie extract` output).")]
ValFractionOption = Annotated[float, typer.Option(min=0.0, max=0.9, help="Share of videos held out for retrieval.")]


@txe_app.command("pretrain")
def txe_pretrain(
    cache: CacheOption,
    out: Annotated[Path, typer.Option(help="Run folder: checkpoint.pt, log.jsonl, loss.png (resumed if present).")],
    profile: ProfileOption = Profile.paper,
    epochs: EpochsOption = 0,
    stride: Annotated[float, typer.Option(min=0, help="Token stride in s, a multiple of the cache's (0: 2 s).")] = 0,
    loss: Annotated[str, typer.Option(help="contrastive (Eq. 1) | l2.")] = "contrastive",
    mask_sampling: Annotated[str, typer.Option(help="uniform | max_discrepancy.")] = "uniform",
    mask_sizes: Annotated[str, typer.Option(help="Mask-size set, e.g. 1,2,3 (empty: 1..floor(0.6 N)).")] = "",
    target: Annotated[str, typer.Option(help="ema | live: the stop-gradient target projection.")] = "ema",
    hard_negatives: Annotated[int, typer.Option(min=0, help="Top-k hardest distractors via FAISS (0: all).")] = 0,
    batch_size: Annotated[int, typer.Option(min=0, help="Windows per step over all ranks (0: the profile's).")] = 0,
    val_fraction: ValFractionOption = 0.1,
    device: DeviceOption = Device.auto,
    seed: SeedOption = 0,
    max_steps: MaxStepsOption = 0,
) -> None:
    """Pretrain TxE by event mask prediction (torchrun-ready)."""
    from dataclasses import replace

    from hiermovie.contextualize.config import TXE_PROFILES
    from hiermovie.contextualize.pretrain import TxEOptions, pretrain_txe

    config = _overridden(
        TXE_PROFILES[profile.value],
        epochs=epochs,
        stride_sec=stride,
        hard_negatives=hard_negatives,
        batch_size=batch_size,
    )
    config = replace(
        config, loss=loss, mask_sampling=mask_sampling, target=target, mask_sizes=_ints(mask_sizes, "--mask-sizes")
    )
    options = TxEOptions(device=device.value, seed=seed, val_fraction=val_fraction, max_steps=max_steps or None)
    summary = _run(pretrain_txe, config, cache, out, options)
    typer.echo(
        f"{summary['checkpoint']}: step {summary['step']}; masked-event retrieval on "
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
    epochs: EpochsOption = 0,
    val_fraction: ValFractionOption = 0.1,
    device: DeviceOption = Device.auto,
) -> None:
    """Sweep TxE pretraining configs (Table 2) x seeds on one cache."""
    from hiermovie.contextualize.ablate import ablate as run_grid
    from hiermovie.contextualize.ablate import load_grid
    from hiermovie.contextualize.config import TXE_PROFILES
    from hiermovie.contextualize.pretrain import TxEOptions

    config = _overridden(TXE_PROFILES[profile.value], epochs=epochs)
    options = TxEOptions(device=device.value, val_fraction=val_fraction, progress=False)
    table = _run(lambda: run_grid(config, cache, load_grid(grid), runs, out, options))
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

    path = _run(export_cache, cache, txe, format.value, out)
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
    for row in _run(nearest, index, event if event is not None else vector, k):
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
    """Score VidSitu-format prediction files (VidSitu's protocol)."""
    import json

    from hiermovie.tasks.vidsitu_eval import evaluate as score_predictions

    typer.echo(json.dumps(_run(score_predictions, task.value, pred, ann, split, allow_pickle, partial), indent=1))


def _verb_line(metrics: dict) -> str:
    return (
        f"verbs on valid: Acc@1 {100 * metrics['acc1']:.2f}, Acc@5 {100 * metrics['acc5']:.2f}, "
        f"Rec@5 {100 * metrics['rec5']:.2f} (over {int(metrics['rec5_verbs'])} verbs)"
    )


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
    runs: Annotated[int, typer.Option(min=0, help="Seeds per row (0: the profile's; paper 10, LVU 5).")] = 0,
    rows: Annotated[str, typer.Option(help="Rows to run, e.g. features,pretrained or scene_ours (empty: all).")] = "",
    profile: ProfileOption = Profile.paper,
    epochs: EpochsOption = 0,
    beam_size: Annotated[int, typer.Option(min=0, help="SRL decoding: 1 greedy, > 1 beam search (0: keep).")] = 0,
    skip_missing: Annotated[bool, typer.Option(help="LVU: leave out videos the cache lacks.")] = False,
    device: DeviceOption = Device.auto,
) -> None:
    """Train and evaluate task heads from a cache: the paper's Tables 4, 1, 3 (VidSitu) and 5 (LVU)."""
    from hiermovie.contextualize.config import TXE_PROFILES
    from hiermovie.tasks.config import TASK_PROFILES
    from hiermovie.tasks.runs import ALL_TASKS, TaskOptions, run_tasks

    config = _overridden(
        TASK_PROFILES[profile.value], runs=runs, lvu_runs=runs, epochs=epochs, lvu_epochs=epochs, beam_size=beam_size
    )
    tasks = ALL_TASKS if name is TaskName.all else (name.value,)
    chosen = tuple(r.strip() for r in rows.split(",") if r.strip())
    options = TaskOptions(device=device.value, rows=chosen, skip_missing=skip_missing)
    path = _run(run_tasks, tasks, config, cache, data, out, txe, TXE_PROFILES[profile.value], options)
    typer.echo(path.read_text())


def main() -> None:
    """Console entry point."""
    sys.exit(app())
