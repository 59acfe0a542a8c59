"""The `kill_when` fixture (tests/conftest.py) that the kill-and-resume tests rely on: it must tell a run it
killed mid-way from one that crashed at start-up, which would otherwise pass as "killed and resumed"."""

import signal
import sys


def test_a_crash_at_start_up_is_not_a_kill_mid_run(kill_when):
    crash = kill_when([sys.executable, "-c", "raise SystemExit('error: bad option')"], lambda: False, timeout=60)
    assert not crash.mid_run and crash.returncode == 1 and "bad option" in crash.stderr


def test_a_kill_after_ready_is_mid_run(kill_when, tmp_path):
    started = tmp_path / "started"
    script = f"import pathlib, time; pathlib.Path({str(started)!r}).touch(); time.sleep(60)"
    killed = kill_when([sys.executable, "-c", script], started.exists, timeout=60)
    assert killed.mid_run and killed.returncode == -signal.SIGKILL
