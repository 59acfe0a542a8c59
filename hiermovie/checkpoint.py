"""Training checkpoints: written atomically, tagged with their kind, holding the config that built
the model (nanoGPT's `model_args`), the optimiser state and the step, so runs resume and models
rebuild themselves."""

import os
import tempfile
from pathlib import Path
from typing import Any

import torch

from hiermovie.errors import HiermovieError, InputFileError
from hiermovie.profiles import config_dict

FORMAT_VERSION = 1


def save_checkpoint(path: Path, *, kind: str, config: object, step: int, **state: Any) -> None:
    """Write `state` (state dicts, counters) with its kind, config and step; never a partial file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT_VERSION, "kind": kind, "config": config_dict(config), "step": step, **state}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    os.close(fd)
    try:
        try:
            torch.save(payload, tmp)
        except RuntimeError as error:  # torch reports a failed write (e.g. a full disk) as RuntimeError
            raise OSError(None, f"cannot write the checkpoint: {error}", str(path)) from None
        os.replace(tmp, path)
    finally:
        Path(tmp).unlink(missing_ok=True)


def load_checkpoint(path: Path, kinds: str | tuple[str, ...], map_location: str | torch.device = "cpu") -> dict:
    """Read a checkpoint of one of `kinds`; anything else is a one-line user error."""
    path, kinds = Path(path), (kinds,) if isinstance(kinds, str) else kinds
    if not path.is_file():
        raise InputFileError(path, "checkpoint not found")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises many types for foreign or damaged files
        raise InputFileError(path, f"not a readable checkpoint ({type(error).__name__})") from None
    if not isinstance(payload, dict) or "kind" not in payload or "format" not in payload:
        raise InputFileError(path, "not a hiermovie checkpoint (for released weights use --init)")
    if payload["kind"] not in kinds:
        raise HiermovieError(f"{path}: a {payload['kind']!r} checkpoint; expected {' or '.join(map(repr, kinds))}")
    return payload
