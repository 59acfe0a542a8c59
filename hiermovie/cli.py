"""The `hiermovie` command line: parses options, builds a config, calls one library function.

User errors (bad files, bad options) print one line on stderr and exit 2, without a traceback.
"""

import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, TypeVar

import typer

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


def _run(function: Callable[..., Result], *args, **kwargs) -> Result:
    """Call a library function; turn user errors into a one-line message and exit code 2."""
    try:
        return function(*args, **kwargs)
    except HiermovieError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        raise typer.Exit(130) from None


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
ProfileOption = Annotated[Profile, typer.Option(help="Model size: paper (Slow-D R50 16x4, 224 px) or tiny (CPU).")]
DeviceOption = Annotated[Device, typer.Option(help="auto: CUDA when available.")]
WorkersOption = Annotated[int, typer.Option(min=0, help="Decoding processes per rank.")]
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
    workers: WorkersOption = 2,
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


def _verb_line(metrics: dict) -> str:
    return (
        f"verbs on valid: Acc@1 {100 * metrics['acc1']:.2f}, Acc@5 {100 * metrics['acc5']:.2f}, "
        f"Rec@5 {100 * metrics['rec5']:.2f} (over {int(metrics['rec5_verbs'])} verbs)"
    )


PLANNED = {  # commands of later issues: they say so instead of pretending to work
    "txe": ("Pretrain TxE by event mask prediction.", 5),
    "ablate": ("Sweep TxE configs (Table 2) on one cache.", 5),
    "export": ("Export raw and contextualized embeddings.", 5),
    "search": ("Print the nearest events in an index.", 5),
    "task": ("Train task heads (VidSitu, LVU) from a cache.", 6),
    "evaluate": ("Score VidSitu-format prediction files.", 6),
}


def _planned_command(name: str, summary: str, issue: int) -> Callable[..., None]:
    def command(ctx: typer.Context) -> None:
        typer.echo(f"hiermovie {name}: not built yet (planned in issue #{issue}).", err=True)
        raise typer.Exit(2)

    command.__doc__ = f"{summary.rstrip('.')} (not built yet)."
    return command


for _name, (_summary, _issue) in PLANNED.items():
    app.command(
        _name, context_settings={"allow_extra_args": True, "ignore_unknown_options": True}, add_help_option=False
    )(_planned_command(_name, _summary, _issue))


def main() -> None:
    """Console entry point."""
    sys.exit(app())
