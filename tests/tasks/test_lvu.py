import json
import os
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
import torch

from hiermovie.cache import ShardWriter, VideoInstances, VideoTokens, write_manifest
from hiermovie.checkpoint import save_checkpoint
from hiermovie.contextualize.config import TXE_PROFILES
from hiermovie.contextualize.model import create_txe
from hiermovie.datasets.lvu import LVU_SPLITS, LVU_TASKS, load_lvu_task
from hiermovie.errors import HiermovieError
from hiermovie.results import read_records
from hiermovie.tasks.config import TASK_PROFILES
from hiermovie.tasks.lvu_data import (
    Movie,
    aggregate_classification,
    aggregate_regression,
    eval_span_starts,
    lvu_metric,
    rank_rows,
    span_instances,
    span_scene,
    span_tokens,
    train_span_start,
)
from hiermovie.tasks.lvu_runs import choose_lvu_rows, run_lvu
from hiermovie.tasks.lvu_tasks import (
    LVU_ROWS,
    Spans,
    create_lvu_model,
    evaluation_inputs,
    predict_spans,
)
from hiermovie.tasks.object_transformer import collate_instances, collate_scene

from .conftest import random_instances

DIM = 16
ATTRS = {"backbone_config": {"method": "cvrl"}, "checkpoint_sha256": "ef" * 32, "window": {"stride_sec": 1.0}}
CONFIG = replace(
    TASK_PROFILES["tiny"],
    lvu_runs=1,
    lvu_epochs=2,
    lvu_span_sec=6,
    ot_dim=16,
    ot_heads=2,
    ot_ffn=32,
    ot_pretrain_epochs=1,
)


def write_lvu_cache(root: Path, video_ids: list[str], seconds: int, instance_videos: int, seed: int = 0) -> Path:
    """Stand-in videos: `seconds` random 1 s tokens each, 2 instances per second in the first `instance_videos`."""
    rng = np.random.default_rng(seed)
    start = np.arange(seconds, dtype=float)
    with ShardWriter(root, 0, ATTRS, DIM, dtype="float32") as writer:
        for k, video_id in enumerate(sorted(set(video_ids))):
            count = 2 * seconds if k < instance_videos else 0
            instances = VideoInstances(
                rng.normal(size=(count, DIM)).astype(np.float32),
                np.repeat(np.arange(seconds), 2)[:count].astype(np.int32),
                np.tile([0, 1], seconds)[:count].astype(np.int32),
                (np.arange(count) // 8).astype(np.int32),
                np.tile(np.array([[0.1, 0.2, 0.5, 0.6]], np.float32), (count, 1)),
            )
            writer.add(VideoTokens(video_id, rng.normal(size=(seconds, DIM)), start, start + 1.0), instances)
    write_manifest(root, ATTRS)
    return root


def lvu_ids(labels: Path) -> list[str]:
    return [r.youtube_id for task in LVU_TASKS for split in LVU_SPLITS for r in load_lvu_task(labels, task, split)]


@pytest.fixture(scope="module")
def txe_checkpoint(tmp_path_factory):
    config = replace(TXE_PROFILES["tiny"], input_dim=DIM, hidden_dim=16, num_heads=2, ffn_dim=32)
    path = tmp_path_factory.mktemp("lvu_txe") / "checkpoint.pt"
    torch.manual_seed(0)
    save_checkpoint(path, kind="txe", config=config, step=1, model={}, txe=create_txe(config).state_dict())
    return path


# ---------------------------------------------------------------- span protocol and aggregation


def test_evaluation_spans_end_at_every_second_and_cover_short_videos_once():
    assert eval_span_starts(12.0, 10).tolist() == [0.0, 1.0, 2.0]  # spans ending at 10, 11, 12 s
    assert eval_span_starts(12.5, 10).tolist() == [0.0, 1.0, 2.0]
    assert eval_span_starts(10.0, 10).tolist() == [0.0]
    assert eval_span_starts(7.0, 10).tolist() == [0.0]  # shorter than a span: the whole video
    assert eval_span_starts(130.0, 60).tolist() == list(range(71))  # LVU: 60 s windows, gap 1


def test_training_spans_are_uniform_over_the_valid_starts():
    rng = np.random.default_rng(0)
    starts = [train_span_start(14.0, 10, rng) for _ in range(2000)]
    assert set(starts) == {0.0, 1.0, 2.0, 3.0, 4.0}
    assert np.bincount(np.array(starts, int)).min() > 300
    assert {train_span_start(5.0, 10, rng) for _ in range(20)} == {0.0}


def test_a_span_holds_its_tokens_and_instances_with_relative_seconds():
    movie = Movie(
        video_id="m",
        label=1.0,
        duration=6.0,
        centre_sec=np.arange(6) + 0.5,
        raw=np.arange(6.0)[:, None],
        context=None,
        instance_sec=np.array([0, 2, 3, 3, 5]),
        instance_track=np.array([7, 7, 8, 7, 9]),
        instance_shot=np.array([0, 0, 1, 1, 1]),
        instance_features=np.arange(5.0)[:, None].repeat(2, 1),
        instance_box=np.zeros((5, 4), np.float32),
    )
    assert span_tokens(movie, 2.0, 3).tolist() == [2, 3, 4]
    inside = span_instances(movie, 2.0, 3)
    assert inside["sec"].tolist() == [0, 1, 1] and inside["track"].tolist() == [7, 8, 7]
    assert inside["features"][:, 0].tolist() == [1.0, 2.0, 3.0]
    scene = span_scene(movie, 2.0, 3, "raw")  # the tokens centred at 2.5, 3.5, 4.5 s: seconds 0, 1, 2 of the span
    assert scene["features"][:, 0].tolist() == [2.0, 3.0, 4.0] and scene["sec"].tolist() == [0, 1, 2]
    short = replace(movie, centre_sec=np.arange(6) * 4.0 + 2.0)  # tokens centred every 4 s
    assert span_scene(short, 7.0, 1, "raw")["sec"].tolist() == [0]  # none in [7, 8): the nearest, inside the span


def test_classification_sums_the_softmax_of_every_span_of_a_video():
    # video 0: two spans lean weakly to class 0, one strongly to class 1: the sum picks class 1
    probabilities = np.array([[0.6, 0.4], [0.6, 0.4], [0.05, 0.95], [0.9, 0.1]])
    video = np.array([0, 0, 0, 1])
    assert aggregate_classification(probabilities, video, 2).tolist() == [1, 0]
    assert lvu_metric("scene", np.array([1, 0]), np.array([1, 1])) == 0.5


def test_regression_averages_the_spans_and_scores_the_mse_of_the_shifted_targets():
    outputs, video = np.array([1.0, 3.0, -2.0]), np.array([0, 0, 1])
    predictions = aggregate_regression(outputs, video, 2)
    assert predictions.tolist() == [2.0, -2.0]
    assert lvu_metric("view_count", predictions, np.array([1.0, 0.0])) == pytest.approx((1.0 + 4.0) / 2)


def test_rank_rows_gives_table5s_top1_count_and_mean_rank():
    means = {
        "a": {"scene": 50.0, "genre": 30.0, "like_ratio": 0.30},
        "b": {"scene": 40.0, "genre": 30.0, "like_ratio": 0.20},
        "c": {"scene": 60.0, "genre": 10.0, "like_ratio": 0.40},
    }
    lower = {"scene": False, "genre": False, "like_ratio": True}
    ranking = rank_rows(means, lower)
    assert ranking["a"]["ranks"] == {"scene": 2, "genre": 1, "like_ratio": 2}  # a tie shares the better rank
    assert ranking["b"]["ranks"] == {"scene": 3, "genre": 1, "like_ratio": 1}
    assert (ranking["b"]["top1"], ranking["b"]["mean_rank"]) == (2, pytest.approx(5 / 3))
    assert (ranking["c"]["top1"], ranking["c"]["mean_rank"]) == (1, pytest.approx(7 / 3))


# ---------------------------------------------------------------- OT++ and the runs


def random_scene(rng: np.random.Generator, k: int) -> dict[str, np.ndarray]:
    """One span's k scene tokens (12-d), one a second from 0."""
    return {"features": rng.normal(size=(k, 12)).astype(np.float32), "sec": np.arange(k)}


@pytest.mark.parametrize("row", LVU_ROWS)
@pytest.mark.parametrize("task", ["genre", "view_count"])
def test_every_row_gives_one_output_per_span(row, task):
    config = replace(CONFIG, ot_layers=1)
    torch.manual_seed(0)
    model = create_lvu_model(task, row, config, instance_dim=DIM, scene_dim=12).eval()
    rng = np.random.default_rng(0)
    instances = (
        collate_instances([random_instances(rng, m, DIM) for m in (3, 0, 5)], 8)
        if row in ("instance", "ot_pp")
        else None
    )
    scene = collate_scene([random_scene(rng, k) for k in (6, 1, 4)]) if row != "instance" else None
    outputs = model(instances, scene)
    assert outputs.shape == (3, LVU_TASKS[task] or 1)
    assert model.head[-1].in_features == config.ot_dim  # LVU's head on the pooled Object Transformer output


def test_evaluation_batches_by_sequence_length_and_returns_outputs_in_span_order():
    config = replace(CONFIG, ot_layers=1, ot_max_instances=8)
    torch.manual_seed(0)
    model = create_lvu_model("genre", "ot_pp", config, instance_dim=DIM, scene_dim=12)
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 9, 150)  # 150 spans: two batches, each with its own padding
    instances = [random_instances(rng, m, DIM) for m in counts]
    scene = [random_scene(rng, 6) for _ in counts]
    spans = Spans(np.zeros(150, np.int64), np.zeros(150), {"context": scene}, instances)
    batches = evaluation_inputs("ot_pp", spans, config, "cpu")
    assert [np.diff(counts[rows]).min() >= 0 for rows, _ in batches] == [True, True]  # sorted within batches
    outputs = predict_spans(model, batches, torch.device("cpu"))  # (150, C)
    with torch.no_grad():
        one_by_one = [model(collate_instances([instances[i]], 8), collate_scene([scene[i]])) for i in range(150)]
    np.testing.assert_allclose(outputs, torch.cat(one_by_one).numpy(), atol=1e-5)


def test_rows_that_need_a_txe_are_refused_without_one():
    assert choose_lvu_rows((), has_txe=False) == ("instance", "scene_sup")
    assert choose_lvu_rows((), has_txe=True) == LVU_ROWS
    with pytest.raises(HiermovieError, match="'ot_pp' needs a mask-prediction TxE checkpoint"):
        choose_lvu_rows(("ot_pp",), has_txe=False)
    with pytest.raises(HiermovieError, match="unknown LVU row 'objects'"):
        choose_lvu_rows(("objects",), has_txe=True)


def test_table5_on_the_benchmark_labels(tiny_benchmark, txe_checkpoint, tmp_path, tensorboard_scalars):
    labels = tiny_benchmark / "lvu" / "lvu_1.0"
    cache = write_lvu_cache(tmp_path / "cache", lvu_ids(labels), seconds=14, instance_videos=100)
    table = run_lvu(CONFIG, cache, tiny_benchmark, tmp_path / "out", txe_checkpoint, device="cpu", progress=False)
    records = read_records(tmp_path / "out" / "lvu" / "runs.jsonl")
    assert len(records) == len(LVU_TASKS) * len(LVU_ROWS)
    assert all(0.0 <= r["val"] <= 1.0 for r in records if LVU_TASKS[r["task"]])
    text = table.read_text()
    assert "| OT (cvrl) | ours: TxE tokens |" in text and "#top-1 | mean rank" in text
    data = json.loads((tmp_path / "out" / "lvu" / "table.json").read_text())
    assert set(data["splits"]) == {"test", "val"} and data["splits"]["test"]["ot_pp"]["mean_rank"] >= 1
    assert (tmp_path / "out" / "lvu" / "object_transformer" / "summary.json").is_file()
    events = tensorboard_scalars(tmp_path / "out" / "lvu" / "object_transformer" / "tensorboard")
    assert [step for step, _ in events["loss"]] == list(range(1, len(events["loss"]) + 1))
    for task, metric in (("genre", "val_accuracy"), ("view_count", "val_mse")):
        events = tensorboard_scalars(tmp_path / "out" / "lvu" / "tensorboard" / task / "ot_pp_seed0")
        assert [step for step, _ in events[metric]] == [len(events["loss"]) // 2, len(events["loss"])]  # 2 epochs
    # a second call trains nothing new and reuses the pretrained Object Transformer
    run_lvu(CONFIG, cache, tiny_benchmark, tmp_path / "out", txe_checkpoint, device="cpu", progress=False)
    assert len(read_records(tmp_path / "out" / "lvu" / "runs.jsonl")) == len(records)


def test_the_real_lvu_label_files_with_stand_in_videos(real_lvu, tmp_path):
    ids = lvu_ids(real_lvu)
    cache = write_lvu_cache(tmp_path / "cache", ids, seconds=8, instance_videos=0)  # no instances needed
    config = replace(CONFIG, lvu_epochs=1, lvu_batch_size=16)  # plumbing: fewer, larger steps
    run_lvu(config, cache, real_lvu, tmp_path / "out", rows=("scene_sup",), device="cpu", progress=False)
    assert not (tmp_path / "out" / "lvu" / "object_transformer").exists()  # no instance row, no OT pretraining
    records = read_records(tmp_path / "out" / "lvu" / "runs.jsonl")
    assert sorted(r["task"] for r in records) == sorted(LVU_TASKS)
    views = next(r for r in records if r["task"] == "view_count")
    assert 0.5 < views["test"] < 50  # MSE on LVU's shifted ln(views): a stand-in model, but the right scale


def test_videos_missing_from_the_cache_are_an_error_unless_skipped(tiny_benchmark, tmp_path):
    labels = tiny_benchmark / "lvu" / "lvu_1.0"
    ids = lvu_ids(labels)
    cache = write_lvu_cache(tmp_path / "cache", [i for i in ids if i != ids[0]], seconds=14, instance_videos=100)
    with pytest.raises(HiermovieError, match="1 of .* LVU relationship train videos are not in the cache"):
        run_lvu(CONFIG, cache, tiny_benchmark, tmp_path / "a", rows=("scene_sup",), device="cpu", progress=False)
    run_lvu(
        CONFIG,
        cache,
        tiny_benchmark,
        tmp_path / "b",
        rows=("scene_sup",),
        device="cpu",
        skip_missing=True,
        progress=False,
    )
    assert len(read_records(tmp_path / "b" / "lvu" / "runs.jsonl")) == len(LVU_TASKS)


def test_lvu_runs_depend_only_on_the_lvu_settings(tiny_benchmark, tmp_path):
    labels = tiny_benchmark / "lvu" / "lvu_1.0"
    cache = write_lvu_cache(tmp_path / "cache", lvu_ids(labels), seconds=14, instance_videos=0)
    options = {"rows": ("scene_sup",), "device": "cpu", "progress": False}
    run_lvu(CONFIG, cache, tiny_benchmark, tmp_path / "out", **options)
    vidsitu_only = replace(CONFIG, beam_size=3, epochs=7, lr=0.1, runs=9)  # VidSitu settings: the LVU runs stay
    run_lvu(vidsitu_only, cache, tiny_benchmark, tmp_path / "out", **options)
    assert len(read_records(tmp_path / "out" / "lvu" / "runs.jsonl")) == len(LVU_TASKS)
    with pytest.raises(HiermovieError, match="holds runs with another config"):
        run_lvu(replace(CONFIG, lvu_lr=0.5), cache, tiny_benchmark, tmp_path / "out", **options)


RUN_IN_A_NEW_PROCESS = """
import json, sys
from pathlib import Path
from hiermovie.results import read_records
from hiermovie.tasks.config import TaskConfig
from hiermovie.tasks.lvu_runs import run_lvu
config, cache, data, out, txe = json.loads(sys.argv[1])
run_lvu(TaskConfig(**config), Path(cache), Path(data), Path(out), Path(txe), rows=("ot_pp",), device="cpu",
        progress=False, jobs=2)
print(json.dumps(sorted(read_records(Path(out) / "lvu" / "runs.jsonl"), key=lambda r: r["task"])))
"""


def test_a_rerun_in_another_process_gives_the_same_numbers(tiny_benchmark, txe_checkpoint, tmp_path):
    # OT++ covers every random draw of an LVU run: the masked-instance pretraining (its init, masks, jitter), the
    # TxE tokens, the fine-tuning in worker processes; string hashing differs between the two processes
    labels = tiny_benchmark / "lvu" / "lvu_1.0"
    cache = write_lvu_cache(tmp_path / "cache", lvu_ids(labels), seconds=14, instance_videos=100)
    outputs = []
    for hash_seed in ("1", "2"):
        arguments = [asdict(CONFIG), str(cache), str(tiny_benchmark), str(tmp_path / hash_seed), str(txe_checkpoint)]
        command = [sys.executable, "-c", RUN_IN_A_NEW_PROCESS, json.dumps(arguments)]
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        result = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        outputs.append(json.loads(result.stdout))
    assert outputs[0] == outputs[1]
