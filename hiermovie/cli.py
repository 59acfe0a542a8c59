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


PLANNED = {  # commands of later issues: they say so instead of pretending to work
    "backbone": ("Pretrain, finetune or probe the Slow-D backbone.", 3),
    "extract": ("Extract event features into HDF5 shards.", 4),
    "cache": ("Inspect or verify an event-feature cache.", 4),
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
