"""Faults and bad input across the pipeline (docs/reliability.md): each case is the command a user
runs, and must end with one clear line on stderr, exit code 2 (1 for `cache verify`), no traceback,
and no partial output that looks complete. The long kill-and-resume cases are marked slow."""

import json
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hiermovie.cache import EventCache
from hiermovie.checkpoint import save_checkpoint
from hiermovie.contextualize.config import TXE_PROFILES
from hiermovie.contextualize.model import create_txe
from hiermovie.runlog import read_log
from hiermovie.video.decode import write_video

from .test_cli import assert_user_error, hiermovie


@pytest.fixture(scope="module")
def tiny_txe(tmp_path_factory) -> Path:
    """A random tiny TxE checkpoint for the tiny cache (512-d)."""
    config = TXE_PROFILES["tiny"]
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("txe") / "checkpoint.pt"
    save_checkpoint(path, kind="txe", config=config, step=0, model={}, txe=create_txe(config).state_dict())
    return path


def with_file_size_limit(limit: int, *args: str) -> subprocess.CompletedProcess:
    """`hiermovie ARGS` where no file may grow beyond `limit` bytes: writes past it fail as on a full disk."""

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failing write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    command = [sys.executable, "-m", "hiermovie", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, preexec_fn=limit_file_size)


def same_tokens(a: Path, b: Path) -> bool:
    with EventCache(a) as first, EventCache(b) as second:
        if first.video_ids != second.video_ids:
            return False
        return all(np.array_equal(first.tokens(v).features, second.tokens(v).features) for v in first.video_ids)


def leftovers(folder: Path) -> list[Path]:
    """Temporary files of an interrupted write."""
    return [p for p in folder.rglob("*") if "partial" in p.name]


# ---------------------------------------------------------------- videos


def one_video_folder(tmp_path: Path, name: str, content: bytes | None) -> Path:
    folder = tmp_path / "videos"
    folder.mkdir()
    if content is not None:
        (folder / name).write_bytes(content)
    return folder


@pytest.mark.parametrize(
    ("case", "problem"),
    [("zero-byte", "empty file"), ("truncated", ""), ("not a video", ""), ("too short", "too short")],
)
def test_a_bad_video_stops_a_strict_extraction_naming_it(case, problem, tiny_benchmark, tiny_backbone, tmp_path):
    good = next((tiny_benchmark / "lvu" / "videos").glob("*.mp4")).read_bytes()
    if case == "too short":  # 0.3 s, less than one 1 s window
        folder = one_video_folder(tmp_path, "short.mp4", None)
        write_video(folder / "short.mp4", [np.zeros((64, 64, 3), np.uint8)] * 9, fps=30)
    else:
        content = {"zero-byte": b"", "truncated": good[: len(good) // 3], "not a video": b"hello, world\n" * 50}
        folder = one_video_folder(tmp_path, "bad.mp4", content[case])
    out = tmp_path / "cache"
    args = ["--data", str(folder), "--out", str(out), "--profile", "tiny", "--stride", "1", "--workers", "0"]
    result = hiermovie("extract", "--backbone", str(tiny_backbone), *args, "--strict")
    assert_user_error(result, "short.mp4" if case == "too short" else "bad.mp4", problem)
    assert not (out / "manifest.json").exists() and not leftovers(tmp_path)
    recorded = hiermovie("extract", "--backbone", str(tiny_backbone), *args)  # without --strict: recorded
    assert recorded.returncode == 0, recorded.stderr
    (failure,) = json.loads((out / "manifest.json").read_text())["failures"]
    assert failure["video_id"] in ("bad", "short") and failure["failure"]


def test_a_missing_video_in_a_list_file_is_named(tiny_backbone, tmp_path):
    (tmp_path / "list.txt").write_text("gone.mp4\n")
    args = ["--data", str(tmp_path / "list.txt"), "--out", str(tmp_path / "cache"), "--profile", "tiny", "--strict"]
    assert_user_error(hiermovie("extract", "--backbone", str(tiny_backbone), *args, "--workers", "0"), "gone.mp4")


# ---------------------------------------------------------------- annotations


def vidsitu_copy(tiny_benchmark: Path, tmp_path: Path) -> Path:
    root = tmp_path / "vidsitu"
    shutil.copytree(tiny_benchmark / "vidsitu" / "vidsitu_annotations", root / "vidsitu_annotations")
    return root


def edit_records(path: Path, change) -> None:
    records = json.loads(path.read_text())
    change(records)
    path.write_text(json.dumps(records))


@pytest.mark.parametrize(
    ("case", "fragments"),
    [
        ("malformed JSON", ("vsann_valid_lb.json", "invalid JSON")),
        ("missing field", ("vsann_valid_lb.json", "VerbID")),
        ("unknown verb id", ("vsann_valid_lb.json", "is not of the form name.NN")),
        ("unknown split", ("unknown", "bogus")),
    ],
)
def test_bad_vidsitu_annotations_are_named(case, fragments, tiny_benchmark, tmp_path):
    root = vidsitu_copy(tiny_benchmark, tmp_path)
    annotations = root / "vidsitu_annotations" / "vseg_ann_files" / "vsann_valid_lb.json"
    split = "valid"
    if case == "malformed JSON":
        annotations.write_text(annotations.read_text()[:-40])
    elif case == "missing field":
        edit_records(annotations, lambda records: records[1]["Ev2"].pop("VerbID"))
    elif case == "unknown verb id":
        edit_records(annotations, lambda records: records[0]["Ev1"].update(VerbID="run fast"))
    else:
        split = "bogus"
    (tmp_path / "pred.json").write_text("[]")
    result = hiermovie(
        "evaluate", "--task", "vb", "--pred", str(tmp_path / "pred.json"), "--ann", str(root), "--split", split
    )
    assert_user_error(result, *fragments)


def test_an_lvu_file_with_a_wrong_column_count_is_named(tiny_benchmark, tiny_cache, tmp_path):
    labels = tmp_path / "lvu_1.0"
    shutil.copytree(tiny_benchmark / "lvu" / "lvu_1.0", labels)
    lines = (labels / "genre" / "val.csv").read_text().splitlines()
    lines[2] = " ".join(lines[2].split()[:-1])  # drop the imdb id
    (labels / "genre" / "val.csv").write_text("\n".join(lines) + "\n")
    args = ["--cache", str(tiny_cache), "--data", str(labels), "--out", str(tmp_path / "out"), "--profile", "tiny"]
    assert_user_error(hiermovie("task", "lvu", *args), "genre/val.csv", "line 3")
    assert not (tmp_path / "out" / "lvu" / "object_transformer").exists()  # nothing trained before the check


# ---------------------------------------------------------------- caches and checkpoints


def test_a_cache_of_another_dimension_is_refused(tiny_cache, tmp_path):
    result = hiermovie(
        "txe", "pretrain", "--cache", str(tiny_cache), "--out", str(tmp_path / "txe"), "--profile", "paper"
    )
    assert_user_error(result, "features are 512-d", "expects 2048")


def test_an_unknown_schema_version_is_refused(tiny_cache, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(tiny_cache, cache)
    manifest = json.loads((cache / "manifest.json").read_text())
    (cache / "manifest.json").write_text(json.dumps({**manifest, "schema_version": 99}))
    assert_user_error(hiermovie("cache", "info", str(cache)), "schema")


def test_a_corrupted_shard_is_caught_by_verify_and_a_truncated_one_on_reading(tiny_cache, tiny_benchmark, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(tiny_cache, cache)
    records = json.loads((cache / "manifest.json").read_text())["shards"]
    name = next(r["name"] for r in records if any(v.startswith("v_") for v in r["video_ids"]))  # holds VidSitu clips
    shard = cache / "shards" / name
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # silent damage: only the checksum shows it
    shard.write_bytes(bytes(data))
    verify = hiermovie("cache", "verify", str(cache))
    assert verify.returncode == 1 and shard.name in verify.stderr and "Traceback" not in verify.stderr
    shard.write_bytes(bytes(data[: len(data) // 2]))  # truncated: unreadable
    args = ["--cache", str(cache), "--data", str(tiny_benchmark), "--out", str(tmp_path / "out"), "--profile", "tiny"]
    assert_user_error(hiermovie("task", "verb", *args, "--runs", "1"), shard.name, "unreadable shard")


def test_a_checkpoint_of_the_wrong_kind_is_refused(tiny_cache, tiny_backbone, tiny_benchmark, tmp_path):
    args = [
        "--cache",
        str(tiny_cache),
        "--data",
        str(tiny_benchmark),
        "--out",
        str(tmp_path),
        "--txe",
        str(tiny_backbone),
    ]
    assert_user_error(hiermovie("task", "verb", *args), "'backbone' checkpoint", "expected 'txe'")


# ---------------------------------------------------------------- option values


@pytest.mark.parametrize(
    ("extra", "fragments"),
    [
        (["--batch-size", "-3"], ("--batch-size",)),
        (["--mask-sizes", "6"], ("mask size 6 leaves no context",)),
        (["--stride", "1.5"], ("not a multiple of the extraction stride",)),
        (["--vidsitu-split", "train"], ("need --data",)),
        (["--data", "/nonexistent/bench", "--lvu-split", "train"], ("no LVU label folders",)),
        (["--videos", "/nonexistent/list.txt"], ("list.txt", "unreadable video list")),
    ],
)
def test_invalid_txe_options(extra, fragments, tiny_cache, tmp_path):
    result = hiermovie(
        "txe", "pretrain", "--cache", str(tiny_cache), "--out", str(tmp_path / "t"), "--profile", "tiny", *extra
    )
    assert_user_error(result, *fragments)


@pytest.mark.parametrize(
    "args",
    [
        ["task", "verb", "--cache", "/nonexistent/cache", "--data", ".", "--out", "o"],
        ["extract", "--backbone", "/nonexistent.pt", "--data", ".", "--out", "o"],
        ["synth", "--out", "o", "--size", "tiny", "--seed", "-1"],
        ["task", "srl", "--cache", "c", "--data", ".", "--out", "o", "--runs", "-2"],
    ],
    ids=["missing cache", "missing checkpoint", "negative seed", "negative runs"],
)
def test_invalid_paths_and_values(args, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "hiermovie", *args], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert_user_error(result, "nonexistent" if "/nonexistent" in " ".join(args) else "Invalid value")
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------- full disk, unwritable output


def test_a_full_disk_during_extraction_leaves_no_finished_looking_cache(
    tiny_benchmark, tiny_backbone, tiny_cache, tmp_path
):
    out = tmp_path / "cache"
    args = ["extract", "--backbone", str(tiny_backbone), "--data", str(tiny_benchmark), "--out", str(out)]
    args += ["--profile", "tiny", "--stride", "1", "--videos-per-shard", "6", "--workers", "0"]
    result = with_file_size_limit(60_000, *args)  # shards are ~100 KB: the first one cannot be written
    assert_user_error(result, "shard-00000.h5", "File too large")
    assert not (out / "manifest.json").exists() and not list((out / "shards").glob("*.h5")) and not leftovers(out)
    rerun = subprocess.run([sys.executable, "-m", "hiermovie", *args], capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert same_tokens(out, tiny_cache)


def test_a_full_disk_during_training_keeps_no_partial_checkpoint(tiny_cache, tmp_path):
    run = tmp_path / "txe"
    result = with_file_size_limit(
        200_000,
        "txe",
        "pretrain",
        "--cache",
        str(tiny_cache),
        "--out",
        str(run),
        "--profile",
        "tiny",
        "--epochs",
        "1",
        "--batch-size",
        "8",
    )
    assert_user_error(result, "checkpoint.pt", "cannot write the checkpoint")
    assert not (run / "checkpoint.pt").exists() and not leftovers(run)


@pytest.mark.parametrize("command", ["synth", "export"])
def test_an_unwritable_output_path_is_one_line(command, tiny_cache, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    if command == "synth":
        result = hiermovie("synth", "--out", str(blocker / "bench"), "--size", "tiny")
    else:
        result = hiermovie("export", "--cache", str(tiny_cache), "--out", str(blocker / "events.parquet"))
    assert_user_error(result, str(blocker))
    assert blocker.read_text() == "not a folder"


# ---------------------------------------------------------------- DataLoader workers: killed, out of shared memory

# `python -c FULL_SHM AFTER ARGS` runs `hiermovie ARGS` where /dev/shm is full for the DataLoader workers
# once each has put AFTER tensors there: torch's sharing then fails as it does on a full /dev/shm
FULL_SHM = """
import os, runpy, sys, torch
from torch.utils.data import get_worker_info
after, put = int(sys.argv.pop(1)), [0]

def full(allocate):
    def patched(*args, **kwargs):
        storage = args[0]
        if get_worker_info() is not None and not (isinstance(storage, torch.UntypedStorage) and storage.is_shared()):
            put[0] += 1
            if put[0] > after:
                file = f"</torch_{os.getpid()}_0_{put[0]}>"  # torch's words on a full /dev/shm
                raise RuntimeError(f"unable to allocate shared memory(shm) for file {file}: No space left on device")
        return allocate(*args, **kwargs)
    return patched

storages = torch.UntypedStorage
for name in ("_share_fd_cpu_", "_share_filename_cpu_"):
    setattr(storages, name, full(getattr(storages, name)))
for name in ("_new_using_fd_cpu", "_new_using_filename_cpu"):
    setattr(storages, name, staticmethod(full(getattr(storages, name))))  # classmethods, bound to the class
sys.argv[0] = "hiermovie"
runpy.run_module("hiermovie", run_name="__main__", alter_sys=True)
"""


def with_full_shm(after: int, *args: str) -> subprocess.CompletedProcess:
    """`hiermovie ARGS` with /dev/shm full for its DataLoader workers after each has shared `after` tensors;
    a run that hangs fails the test after a minute."""
    command = [sys.executable, "-c", FULL_SHM, str(after), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def worker_stages(tiny_benchmark: Path, tiny_backbone: Path, out: Path) -> dict[str, list[str]]:
    """The commands whose videos are decoded in DataLoader workers (2 each), on the tiny benchmark."""
    vidsitu, tiny = ["--vidsitu", str(tiny_benchmark / "vidsitu")], ["--profile", "tiny", "--device", "cpu"]
    return {
        "extract": ["extract", "--backbone", str(tiny_backbone), "--data", str(tiny_benchmark), "--out", str(out)]
        + [*tiny, "--stride", "1", "--videos-per-shard", "2", "--workers", "2"],
        "backbone pretrain": ["backbone", "pretrain", "--data", str(tiny_benchmark / "kinetics" / "train")]
        + ["--out", str(out), *tiny, "--batch-size", "4", "--epochs", "3", "--checkpoint-every", "1", "--workers", "2"],
        "backbone finetune-verbs": ["backbone", "finetune-verbs", *vidsitu, "--out", str(out), *tiny]
        + ["--backbone", str(tiny_backbone), "--max-steps", "2", "--workers", "2"],
        "backbone probe": ["backbone", "probe", *vidsitu, "--backbone", str(tiny_backbone), *tiny, "--workers", "2"],
    }


@pytest.mark.parametrize("stage", ["extract", "backbone pretrain", "backbone finetune-verbs", "backbone probe"])
def test_a_full_dev_shm_ends_a_stage_with_one_line(stage, tiny_benchmark, tiny_backbone, tmp_path):
    args = worker_stages(tiny_benchmark, tiny_backbone, tmp_path / "out")[stage]
    assert_user_error(with_full_shm(0, *args), "shared memory", "/dev/shm", "--workers 0")


def test_extraction_out_of_shared_memory_keeps_its_finished_shards(tiny_benchmark, tiny_backbone, tiny_cache, tmp_path):
    out = tmp_path / "cache"
    args = worker_stages(tiny_benchmark, tiny_backbone, out)["extract"]
    assert_user_error(with_full_shm(3, *args), "shared memory", "--workers 0")  # 3 videos per worker pass
    finished = sorted((out / "shards").glob("*.json"))
    assert len(finished) >= 2 and not (out / "manifest.json").exists() and not leftovers(out)
    rerun = hiermovie(*args)
    assert rerun.returncode == 0, rerun.stderr
    assert same_tokens(out, tiny_cache)


def test_extraction_with_a_real_full_dev_shm_ends_with_one_line(tiny_benchmark, tiny_backbone, tmp_path):
    """The same on a real 256 KiB /dev/shm, mounted in a private mount namespace (needs root)."""
    probe = subprocess.run(["unshare", "-m", "mount", "-t", "tmpfs", "tmpfs", "/dev/shm"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("cannot mount a small /dev/shm here (needs unshare and root)")
    args = worker_stages(tiny_benchmark, tiny_backbone, tmp_path / "cache")["extract"]
    command = subprocess.list2cmdline([sys.executable, "-m", "hiermovie", *args])
    mounted = f"mount -t tmpfs -o size=256k tmpfs /dev/shm && exec {command}"
    result = subprocess.run(["unshare", "-m", "sh", "-c", mounted], capture_output=True, text=True, timeout=60)
    assert_user_error(result, "shared memory", "/dev/shm", "--workers 0")


def test_a_killed_decoding_worker_ends_extraction_with_one_line_keeping_finished_shards(
    tiny_benchmark, tiny_backbone, tiny_cache, tmp_path, kill_when
):
    out = tmp_path / "cache"
    args = worker_stages(tiny_benchmark, tiny_backbone, out)["extract"]
    at_kill: list[Path] = []

    def two_shards_finished() -> bool:
        at_kill[:] = sorted((out / "shards").glob("*.json"))
        return len(at_kill) >= 2

    killed = kill_when([sys.executable, "-m", "hiermovie", *args], two_shards_finished, worker=True)
    assert killed.mid_run, killed.stderr
    assert_user_error(killed, "DataLoader worker", "out of memory", "--workers")
    assert set(at_kill) <= set((out / "shards").glob("*.json"))
    assert not (out / "manifest.json").exists() and not leftovers(out)
    rerun = hiermovie(*args)
    assert rerun.returncode == 0, rerun.stderr
    assert same_tokens(out, tiny_cache)


@pytest.mark.slow
def test_a_killed_decoding_worker_ends_pretraining_with_one_line_keeping_the_checkpoint(
    tiny_benchmark, tiny_backbone, tmp_path, kill_when
):
    run = tmp_path / "run"
    args = worker_stages(tiny_benchmark, tiny_backbone, run)["backbone pretrain"]
    killed = kill_when(
        [sys.executable, "-m", "hiermovie", *args], lambda: len(read_log(run / "log.jsonl")) >= 3, worker=True
    )
    assert killed.mid_run, killed.stderr
    assert_user_error(killed, "DataLoader worker", "out of memory", "--workers")
    # step 3's log line is written before its checkpoint
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] >= 2
    assert not (run / "summary.json").exists() and not leftovers(run)
    rerun = hiermovie(*args)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads((run / "summary.json").read_text())["step"] == 9


# ---------------------------------------------------------------- kill and resume (slow)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_extraction_killed_at_a_random_point_resumes_to_the_same_cache(
    seed, tiny_benchmark, tiny_backbone, tiny_cache, tmp_path, kill_when
):
    out = tmp_path / "cache"
    args = ["extract", "--backbone", str(tiny_backbone), "--data", str(tiny_benchmark), "--out", str(out)]
    command = [
        sys.executable,
        "-m",
        "hiermovie",
        *args,
        "--profile",
        "tiny",
        "--stride",
        "1",
        "--videos-per-shard",
        "2",
    ]
    shards_before_kill = np.random.default_rng(seed).integers(1, 10)
    killed = kill_when(command, lambda: len(list((out / "shards").glob("*.json"))) >= shards_before_kill)
    assert killed.mid_run, killed.stderr
    assert not (out / "manifest.json").exists()
    subprocess.run(command, check=True, capture_output=True, timeout=600)
    assert same_tokens(out, tiny_cache) and not leftovers(out)


@pytest.mark.slow
def test_txe_pretraining_killed_mid_run_resumes_to_the_same_losses(
    tiny_cache, tmp_path, kill_when, tensorboard_scalars
):
    def command(run):
        args = ["txe", "pretrain", "--cache", str(tiny_cache), "--out", str(run), "--profile", "tiny"]
        return [sys.executable, "-m", "hiermovie", *args, "--epochs", "6", "--batch-size", "8", "--device", "cpu"]

    killed = kill_when(command(tmp_path / "killed"), lambda: len(read_log(tmp_path / "killed" / "log.jsonl")) >= 5)
    assert killed.mid_run, killed.stderr
    assert not (tmp_path / "killed" / "summary.json").exists()
    for run in ("killed", "straight"):
        subprocess.run(command(tmp_path / run), check=True, capture_output=True, timeout=600)
    losses = {
        run: {r["step"]: r["loss"] for r in read_log(tmp_path / run / "log.jsonl") if "loss" in r}
        for run in ("killed", "straight")
    }
    assert losses["killed"] == losses["straight"]
    events = {run: tensorboard_scalars(tmp_path / run / "tensorboard")["loss"] for run in ("killed", "straight")}
    assert events["killed"] == events["straight"]  # each step once: what the killed attempt logged is hidden
