"""Named profiles of the stage configs (`tiny` for CPUs and tests, `paper` for the paper's setting)."""

from dataclasses import asdict
from typing import TypeVar

from hiermovie.errors import HiermovieError

ConfigT = TypeVar("ConfigT")


def choose_profile(profiles: dict[str, ConfigT], name: str) -> ConfigT:
    """The config called `name`, or a clear error listing the known profiles."""
    if name not in profiles:
        raise HiermovieError(f"unknown profile {name!r}; choose one of: {', '.join(profiles)}")
    return profiles[name]


def config_dict(config: object) -> dict:
    """A JSON-ready dict of a config dataclass, as stored in checkpoints, shards and run folders."""
    return asdict(config)
