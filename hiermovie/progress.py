"""Progress bars fit for a terminal and for a log file. On a TTY: tqdm's live bars. Elsewhere (stderr
redirected to a file, as on clusters): one plain line when a bar starts, at most one more every
LOG_INTERVAL seconds, and the final line, with no carriage returns. `quiet()` (the CLI's --quiet)
turns every bar off."""

import io
import re
import sys
from collections.abc import Iterable
from typing import TextIO

from tqdm import tqdm

LOG_INTERVAL = 30.0  # seconds between two progress lines in a log file
LOG_FORMAT = "{desc}: {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
_settings = {"quiet": False}
_CURSOR_MOVES = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")  # tqdm moves the cursor between nested bars ("\x1b[A")


def quiet(on: bool = True) -> None:
    """Silence (or restore) every progress bar of this process."""
    _settings["quiet"] = on


class _LogLines(io.TextIOBase):
    """A file for tqdm that writes each redraw as a line of its own."""

    def __init__(self, stream: TextIO):
        self.stream = stream

    def write(self, text: str) -> int:
        line = _CURSOR_MOVES.sub("", text.replace("\r", "")).strip()  # tqdm redraws a bar as "\r" + status
        if line:
            self.stream.write(line + "\n")
            self.stream.flush()
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


class _Bar(tqdm):
    """tqdm whose `set_postfix` waits for the next scheduled redraw (tqdm's default redraws at once, which in a
    log file would write one line per call)."""

    def set_postfix(self, ordered_dict=None, refresh: bool = False, **kwargs) -> None:
        super().set_postfix(ordered_dict, refresh=refresh, **kwargs)


def progress_bar(
    iterable: Iterable | None = None,
    *,
    desc: str,
    unit: str,
    total: int | None = None,
    initial: int = 0,
    enabled: bool = True,
    stream: TextIO | None = None,
) -> tqdm:
    """A tqdm bar over `iterable` (or updated by hand), live on a TTY and log-friendly elsewhere."""
    stream = stream or sys.stderr
    common = {"total": total, "initial": initial, "desc": desc, "unit": unit}
    if not enabled or _settings["quiet"]:
        return _Bar(iterable, disable=True, **common)
    if stream.isatty():
        return _Bar(iterable, file=stream, **common)
    return _Bar(
        iterable,
        file=_LogLines(stream),
        mininterval=LOG_INTERVAL,
        maxinterval=LOG_INTERVAL,
        bar_format=LOG_FORMAT,
        **common,
    )
