"""Progress bars: live on a terminal, a bounded number of plain lines in a log file, none when quiet."""

import io
import subprocess
import sys
import time

import pytest

from hiermovie import progress
from hiermovie.progress import progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def _loud():
    progress.quiet(False)
    yield
    progress.quiet(False)


def test_a_log_file_gets_a_start_and_an_end_line_and_no_carriage_returns():
    log = io.StringIO()
    for _ in progress_bar(range(5000), desc="work", unit="item", stream=log):
        pass
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert len(lines) == 2 and lines[0].startswith("work: 0/5000") and lines[-1].startswith("work: 5000/5000")


def test_a_postfix_set_at_every_step_adds_no_line():
    log = io.StringIO()
    bar = progress_bar(range(500), desc="train", unit="step", stream=log)
    for step in bar:
        bar.set_postfix(loss=f"{1 / (step + 1):.4f}")
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and "loss=0.0020" in lines[-1]


def test_nested_bars_write_no_cursor_moves_into_a_log_file():
    log = io.StringIO()
    outer = progress_bar(range(2), desc="stages", unit="stage", stream=log)
    for _ in outer:
        for _ in progress_bar(range(3), desc="inner", unit="step", stream=log):
            pass
    text = log.getvalue()
    assert "\x1b" not in text and "\r" not in text
    assert all(line.startswith(("stages: ", "inner: ")) for line in text.splitlines())


def test_a_log_file_gets_at_most_one_line_per_interval(monkeypatch):
    monkeypatch.setattr(progress, "LOG_INTERVAL", 0.05)
    log = io.StringIO()
    started = time.perf_counter()
    for _ in progress_bar(range(40), desc="slow", unit="item", stream=log):
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    lines = log.getvalue().splitlines()
    assert 3 <= len(lines) <= elapsed / 0.05 + 3  # start, periodic, end


def test_a_terminal_gets_the_live_bar():
    terminal = _Terminal()
    bar = progress_bar(total=3, desc="live", unit="step", stream=terminal)
    for _ in range(3):
        bar.update()
    bar.close()
    assert "\r" in terminal.getvalue() and "3/3" in terminal.getvalue()


def test_quiet_and_disabled_bars_write_nothing():
    log = _Terminal()
    list(progress_bar(range(10), desc="off", unit="item", enabled=False, stream=log))
    progress.quiet()
    list(progress_bar(range(10), desc="quiet", unit="item", stream=log))
    assert log.getvalue() == ""


@pytest.mark.parametrize("quiet", [False, True])
def test_the_command_line_writes_a_bounded_log(tmp_path, quiet):
    log = tmp_path / "stderr.log"
    command = [
        sys.executable,
        "-m",
        "hiermovie",
        *(["--quiet"] if quiet else []),
        "synth",
        "--out",
        str(tmp_path / "b"),
    ]
    with log.open("w") as stderr:
        subprocess.run([*command, "--size", "tiny"], stderr=stderr, stdout=subprocess.DEVNULL, check=True)
    text = log.read_text()
    assert "\r" not in text
    assert text.count("synth: rendering") == (0 if quiet else 2)
