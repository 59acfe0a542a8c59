"""What the `hiermovie` commands share: the error handling, the profile overrides and the option types.

User errors (bad files, bad options) and environment errors (a full disk, an unwritable path) print one line
on stderr and exit 2, without a traceback.
"""

from collections.abc import Callable
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from tqdm import tqdm

from hiermovie.errors import HiermovieError

Result = TypeVar("Result")
Config = TypeVar("Config")


def run(function: Callable[..., Result], *args, **kwargs) -> Result:
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


def overridden(config: Config, **overrides) -> Config:
    """`config` with the options given; an option left at None keeps the profile's value (0 is a value)."""
    return replace(config, **{k: v for k, v in overrides.items() if v is not None})


class Profile(StrEnum):
    tiny = "tiny"
    paper = "paper"


class Device(StrEnum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


ProfileOption = Annotated[
    Profile, typer.Option(help="paper: the paper's model sizes; tiny: the same code for 2 CPU cores.")
]
DeviceOption = Annotated[Device, typer.Option(help="auto: CUDA when available.")]
WorkersOption = Annotated[
    int,
    typer.Option(
        min=0,
        help="Decoding processes per rank; on CPU torch runs on the cores they leave (0: decode in the main "
        "process, every core computes: fastest for a compute-bound backbone such as paper on a CPU).",
    ),
]
AutoWorkersOption = Annotated[
    int | None,
    typer.Option(min=0, help="Decoding processes per rank [default: on CPU half the cores, the rest compute; CUDA 2]."),
]
SeedOption = Annotated[int, typer.Option(min=0, help="Seed of initial weights, data order and augmentation.")]
JobsOption = Annotated[
    int | None,
    typer.Option(min=1, help="Runs trained at once, one process each [default: one per core on CPU, 1 on CUDA]."),
]
EpochsOption = Annotated[int | None, typer.Option(min=1, help="Epochs [default: the profile's].")]
MaxStepsOption = Annotated[int | None, typer.Option(min=1, help="Stop after this many steps [default: all epochs].")]
CheckpointOption = Annotated[Path | None, typer.Option(help="A hiermovie backbone checkpoint (its config wins).")]
InitOption = Annotated[Path | None, typer.Option(help="Released weights to start from (pytorchvideo or PySlowFast).")]
CacheOption = Annotated[Path, typer.Option(help="An event cache (`hiermovie extract` output).")]
ValFractionOption = Annotated[
    float, typer.Option(min=0.0, max=0.9, help="Share of source videos held out for retrieval.")
]
# which videos TxE pretrains on (the paper: the train splits); none given = every video of the cache
PretrainDataOption = Annotated[
    Path | None, typer.Option("--data", help="Benchmark, VidSitu or LVU folder whose split files name the videos.")
]
VidSituSplitOption = Annotated[
    str | None, typer.Option(help="Pretrain on this VidSitu split's clips, e.g. train (needs --data).")
]
LVUSplitOption = Annotated[
    str | None, typer.Option(help="Pretrain on this LVU split's movies, e.g. train (needs --data).")
]
VideosOption = Annotated[
    Path | None, typer.Option("--videos", help="Pretrain on the cache videos listed in this file, one id per line.")
]
