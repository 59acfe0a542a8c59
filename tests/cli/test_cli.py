"""The `hiermovie` command as a user runs it: a real subprocess, its exit code and its stderr."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

COMMANDS = ("synth", "backbone", "extract", "cache", "txe", "ablate", "task", "evaluate", "export", "search", "demo")


def hiermovie(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hiermovie", *args], capture_output=True, text=True, timeout=600)


def assert_user_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit code 2, one error line on stderr (after any progress bars) naming the problem, no traceback."""
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:") or "Error" in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip().splitlines()[-1] == errors[0]
    assert all(fragment in errors[0] for fragment in fragments), errors[0]


def copy_of(benchmark: Path, tmp_path: Path) -> Path:
    """A demo run folder holding a copy of the benchmark, free to damage."""
    shutil.copytree(benchmark, tmp_path / "run" / "data")
    return tmp_path / "run"


def test_help_lists_every_command_with_one_line():
    result = hiermovie("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert f" {command} " in result.stdout, command


def test_synth_writes_the_tiny_benchmark_then_reuses_it(tmp_path):
    out = tmp_path / "bench"
    first = hiermovie("synth", "--out", str(out), "--size", "tiny", "--seed", "3", "--jobs", "2")
    assert first.returncode == 0, first.stderr
    assert "VidSitu clips" in first.stdout and "LVU movies" in first.stdout
    manifest = json.loads((out / "synth.json").read_text())
    assert manifest["config"]["seed"] == 3 and manifest["config"]["size"] == "tiny"
    stamp = (out / "synth.json").stat().st_mtime_ns
    assert hiermovie("synth", "--out", str(out), "--size", "tiny", "--seed", "3").returncode == 0
    assert (out / "synth.json").stat().st_mtime_ns == stamp  # reused, not regenerated


def test_synth_refuses_a_folder_holding_something_else(tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    assert_user_error(hiermovie("synth", "--out", str(tmp_path), "--size", "tiny"), str(tmp_path), "--force")
    assert (tmp_path / "thesis.tex").read_text() == "precious"


@pytest.mark.parametrize("args", [("--size", "huge"), ("--seed", "-1"), ("--jobs", "-2")])
def test_synth_rejects_invalid_values(tmp_path, args):
    assert_user_error(hiermovie("synth", "--out", str(tmp_path / "x"), *args), "Invalid value", args[0])
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda p: p.write_bytes(b""), "empty file"),
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "truncated"),
        (lambda p: p.write_text("not a video"), "not a video"),
        (lambda p: p.unlink(), "not found"),
    ],
)
def test_demo_names_a_damaged_video(tiny_benchmark, tmp_path, damage, problem):
    run = copy_of(tiny_benchmark, tmp_path)
    video = sorted((run / "data" / "lvu" / "videos").glob("*.mp4"))[0]
    damage(video)
    assert_user_error(hiermovie("demo", "--out", str(run), "--size", "tiny"), video.name, problem)


def test_demo_names_a_malformed_annotation(tiny_benchmark, tmp_path):
    run = copy_of(tiny_benchmark, tmp_path)
    vsann = run / "data" / "vidsitu" / "vidsitu_annotations" / "vseg_ann_files" / "vsann_valid_lb.json"
    records = json.loads(vsann.read_text())
    del records[1]["Ev2"]["VerbID"]
    vsann.write_text(json.dumps(records))
    assert_user_error(
        hiermovie("demo", "--out", str(run), "--size", "tiny"), "vsann_valid_lb.json", "record 1", "VerbID"
    )


def test_demo_writes_a_report(tiny_benchmark, tmp_path):
    run = copy_of(tiny_benchmark, tmp_path)
    result = hiermovie("demo", "--out", str(run), "--size", "tiny")
    assert result.returncode == 0, result.stderr
    report = (run / "report.md").read_text()
    assert "| data (`hiermovie synth`) | done" in report and "not built yet" not in report
    assert "| tasks (VidSitu Tables 4, 1, 3 and LVU Table 5" in report and "### Table 1: semantic role" in report
    assert "| Slow-D+TxE+TxD | supervised | MaskPred |" in report and "| OT (supervised) | ours: TxE tokens |" in report
    assert "## Ablation: TxE pretraining" in report and "| mask {1, 2, 3} |" in report
    assert len(list((run / "tasks" / "srl" / "predictions").glob("*.json"))) == 4  # 4 rows x 1 seed (tiny)
    for figure in (
        "embeddings_raw.png",
        "embeddings_txe.png",
        "retrieval.png",
        "tasks/lvu/object_transformer/loss.png",
    ):
        assert (run / figure).stat().st_size > 0 and f"]({figure})" in report
    assert "| backbone (supervised pretraining" in report and "| supervised |" in report
    assert "(chance 2.639)" in report  # ln(14 verbs)
    assert "| verb |" in report and "| Arg0 (acting character) |" in report  # what the tokens carry
    assert "| extract (event features" in report and "event tokens" in report
    assert "| mask prediction |" in report and (run / "export" / "events.parquet").is_file()
    assert (run / "example_clip.png").stat().st_size > 0 and (run / "verbs.png").stat().st_size > 0
    assert "## The paper's claims at demo size" in report and "`make claims` is the measurement" in report
    assert "| 1 | MaskPred > N (CVRL, CIDEr) | 61.18 vs 54.40 |" in report  # 1 seed a row: "not measured"


def test_evaluate_scores_vidsitu_predictions_and_refuses_pickles(tiny_benchmark, tmp_path):
    from hiermovie.datasets.vidsitu import EVENTS, load_vidsitu

    root = tiny_benchmark / "vidsitu"
    clips = load_vidsitu(root, "valid").clips
    perfect = [{"ann_idx": c.ann_idx, "pred_vbs_ev": [[c.verb_ids[ev][0]] * 5 for ev in EVENTS]} for c in clips]
    (tmp_path / "vb.json").write_text(json.dumps(perfect))
    result = hiermovie("evaluate", "--task", "vb", "--pred", str(tmp_path / "vb.json"), "--ann", str(root))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["acc1"] == 1.0
    (tmp_path / "vb.json").write_text(json.dumps(perfect[1:]))
    missing = hiermovie("evaluate", "--task", "vb", "--pred", str(tmp_path / "vb.json"), "--ann", str(root))
    assert_user_error(missing, "missing")
    (tmp_path / "vb.pkl").write_bytes(b"\x80\x04N.")
    pickled = hiermovie("evaluate", "--task", "vb", "--pred", str(tmp_path / "vb.pkl"), "--ann", str(root))
    assert_user_error(pickled, "vb.pkl", "--allow-pickle")
