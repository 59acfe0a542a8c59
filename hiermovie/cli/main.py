"""The `hiermovie` command line: parses options, builds a config, calls one library function.

Here the benchmark, the demo and the cache commands; the stages' commands in `stage1` and `stage2`.
"""

import sys
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from hiermovie import progress
from hiermovie.cli import stage1, stage2
from hiermovie.cli.common import Device, DeviceOption, run

app = typer.Typer(
    help="Hierarchical self-supervised movie understanding: extract event features once (stage 1), "
    "contextualize and solve tasks from the cache (stage 2).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _global_options(
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bars, for scripted runs.")] = False,
) -> None:
    """Options of every command, given before it: `hiermovie --quiet extract ...`."""
    progress.quiet(quiet)


class Size(StrEnum):
    tiny = "tiny"
    demo = "demo"
    eval = "eval"
    full = "full"


@app.command()
def synth(
    out: Annotated[Path, typer.Option(help="Folder to write the benchmark into.")],
    size: Annotated[
        Size, typer.Option(help="tiny: tests, seconds; demo: `make demo`; eval: `make claims`; full.")
    ] = Size.demo,
    seed: Annotated[int, typer.Option(min=0, help="Everything generated is a function of the seed.")] = 0,
    jobs: Annotated[int, typer.Option(min=0, help="Rendering processes (0: one per CPU core).")] = 0,
    force: Annotated[bool, typer.Option(help="Replace OUT if it holds anything else.")] = False,
) -> None:
    """Generate the embedded toy-movie benchmark (videos, labels)."""
    from hiermovie.datasets.config import SYNTH_SIZES
    from hiermovie.datasets.synth.generate import generate

    config = replace(SYNTH_SIZES[size.value], seed=seed)
    manifest = run(generate, config, out, jobs=jobs or None, force=force)
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

    report = run(run_demo, out, size=size.value, seed=seed, jobs=jobs or None)
    typer.echo(f"report: {report}")


@app.command()
def claims(
    out: Annotated[Path, typer.Option(help="Run folder: data, every stage, claims.md.")] = Path("runs/claims"),
    tables: Annotated[
        str, typer.Option(help="Table groups to run, e.g. 4 or 1,2 (each resumable alone; all: every group).")
    ] = "all",
    size: Annotated[Size, typer.Option(help="Benchmark size (eval: the measuring size).")] = Size.eval,
    seed: Annotated[int, typer.Option(min=0, help="Benchmark seed.")] = 0,
    backbone_seeds: Annotated[int, typer.Option(min=2, help="Backbone seeds where backbones are compared.")] = 3,
    backbone_head_runs: Annotated[int, typer.Option(min=1, help="Verb-head seeds per backbone seed.")] = 3,
    vidsitu_runs: Annotated[int, typer.Option(min=2, help="Seeds per VidSitu relation / ceiling row.")] = 10,
    srl_runs: Annotated[int, typer.Option(min=2, help="Seeds per SRL row.")] = 10,
    lvu_runs: Annotated[int, typer.Option(min=2, help="Seeds per LVU row.")] = 5,
    grid_runs: Annotated[int, typer.Option(min=2, help="TxE seeds per Table 2 row.")] = 3,
    device: DeviceOption = Device.auto,
    redo_stale: Annotated[
        bool, typer.Option(help="Redo the steps made by other code (default: refuse to reuse or mix them).")
    ] = False,
    jobs: Annotated[int, typer.Option(min=0, help="Rendering processes (0: one per CPU core).")] = 0,
) -> None:
    """Measure the paper's claims (Tables 1 to 5) with floors and ceilings; write claims.md (resumable)."""
    from hiermovie.claims.config import ClaimsConfig, parse_tables
    from hiermovie.claims.pipeline import run_claims

    try:
        groups = parse_tables(tables)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--tables") from None
    config = ClaimsConfig(
        size=size.value,
        seed=seed,
        backbone_seeds=backbone_seeds,
        backbone_head_runs=backbone_head_runs,
        vidsitu_runs=vidsitu_runs,
        srl_runs=srl_runs,
        lvu_runs=lvu_runs,
        grid_runs=grid_runs,
    )
    report = run(run_claims, out, config, groups, device.value, redo_stale, jobs or None)
    typer.echo(f"claims: {report}")


cache_app = typer.Typer(help="Inspect or verify an event-feature cache.", no_args_is_help=True)
app.add_typer(stage1.app)  # extract
app.add_typer(stage2.app)  # ablate, export, search, evaluate, task
app.add_typer(stage1.backbone_app, name="backbone")
app.add_typer(cache_app, name="cache")
app.add_typer(stage2.txe_app, name="txe")
CacheArgument = Annotated[Path, typer.Argument(help="The cache folder.")]


@cache_app.command("info")
def cache_info(cache: CacheArgument) -> None:
    """Summarise a cache: videos, tokens, dims, provenance, failures."""
    import json

    from hiermovie.cache import EventCache

    with run(EventCache, cache) as opened:
        typer.echo(json.dumps(opened.info(), indent=1))


@cache_app.command("verify")
def cache_verify(cache: CacheArgument) -> None:
    """Check every shard's checksum and shapes against the manifest."""
    from hiermovie.cache import EventCache

    with run(EventCache, cache) as opened:
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

    typer.echo(probe_table(run(probe_event_features, cache, data)))


def main() -> None:
    """Console entry point."""
    sys.exit(app())
