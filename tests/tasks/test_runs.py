import json
import math
import subprocess
import sys
from dataclasses import replace
from operator import itemgetter

import pytest
import torch

from hiermovie.cache import EventCache
from hiermovie.checkpoint import save_checkpoint
from hiermovie.contextualize.config import TXE_PROFILES
from hiermovie.contextualize.model import create_txe
from hiermovie.datasets.vidsitu import source_video
from hiermovie.errors import HiermovieError
from hiermovie.results import append_record, read_records
from hiermovie.tasks.config import TASK_PROFILES
from hiermovie.tasks.losses.sequence_cross_entropy import sequence_cross_entropy
from hiermovie.tasks.runs import (
    TASK_ORDER,
    TaskOptions,
    _write_table,
    choose_rows,
    lvu_videos,
    make_encoder,
    run_tasks,
)
from hiermovie.tasks.vidsitu_data import load_event_features, without_lvu_overlap
from hiermovie.tasks.vidsitu_eval import evaluate
from hiermovie.tasks.vidsitu_tasks import TASKS

from .conftest import DIM

CONFIG = replace(TASK_PROFILES["tiny"], runs=1, epochs=2, max_text_len=24)
SCRATCH = replace(TXE_PROFILES["tiny"], hidden_dim=32, num_heads=2, ffn_dim=64)
QUIET = TaskOptions(device="cpu", progress=False)
EVALUATED_AS = {"verb": "vb", "srl": "srl", "relation": "evrel"}


def run(cache, benchmark, out, config=CONFIG, tasks=TASK_ORDER, txe=None, rows=()):
    options = replace(QUIET, rows=rows)
    return run_tasks(tasks, config, cache, benchmark, out, txe, SCRATCH, options)


@pytest.fixture(scope="module")
def all_tasks(verb_cache, tiny_benchmark, tmp_path_factory):
    out = tmp_path_factory.mktemp("all_tasks")
    return out, run(verb_cache, tiny_benchmark, out)


@pytest.fixture(scope="module")
def txe_checkpoint(tmp_path_factory):
    """A TxE checkpoint (as `hiermovie txe pretrain` writes it) for the test cache's width."""
    config = replace(SCRATCH, input_dim=DIM)
    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("txe") / "checkpoint.pt"
    txe = create_txe(config)
    save_checkpoint(path, kind="txe", config=config, step=1, model={}, txe=txe.state_dict())
    return path


def test_every_task_writes_its_table_and_the_summary(all_tasks):
    out, summary = all_tasks
    text = summary.read_text()
    for title in ("Table 4: verb prediction", "Table 1: semantic role prediction", "Table 3: event relation"):
        assert title in text
    srl = json.loads((out / "srl" / "table.json").read_text())
    assert [row["row"] for row in srl["rows"]] == ["blind", "features", "scratch"]
    assert srl["rows"][0]["model"] == "text only (verb given)" and srl["rows"][2]["txe"] == "N"
    assert srl["comparison"] is None  # no MaskPred row without --txe
    assert "| Slow-D+TxE+TxD | cvrl | N |" in text


@pytest.mark.parametrize("task", TASK_ORDER)
def test_each_run_writes_its_loss_and_the_selecting_metric_of_each_epoch_to_tensorboard(
    all_tasks, task, tensorboard_scalars
):
    out, _ = all_tasks
    runs = sorted(path.name for path in (out / task / "tensorboard").iterdir())
    assert runs == sorted(f"{r['row']}_seed{r['seed']}" for r in read_records(out / task / "runs.jsonl"))
    scalars = tensorboard_scalars(out / task / "tensorboard" / runs[0])
    steps = [step for step, _ in scalars["loss"]]
    assert steps == list(range(1, len(steps) + 1))
    assert [v for _, v in scalars["lr"]] == pytest.approx([CONFIG.lr] * len(steps))  # float32 in the files
    metric = TASKS[task].select
    assert [step for step, _ in scalars[metric]] == [steps[len(steps) // 2 - 1], steps[-1]]  # 2 epochs
    assert [value for _, value in scalars["epoch"]] == [1, 2]


@pytest.mark.parametrize("task", TASK_ORDER)
def test_saved_predictions_rescore_to_the_recorded_metrics(all_tasks, tiny_benchmark, task):
    out, _ = all_tasks
    for record in read_records(out / task / "runs.jsonl"):
        path = out / task / "predictions" / f"{record['row']}_seed{record['seed']}.json"
        # the clips cut from LVU movies have no prediction: scored without them, as the runs were
        rescored = evaluate(EVALUATED_AS[task], path, tiny_benchmark / "vidsitu", partial=True)
        assert rescored == pytest.approx(record["metrics"], nan_ok=True)
        assert 1 <= record["best_epoch"] <= CONFIG.epochs


def test_valid_clips_cut_from_lvu_videos_are_not_scored(all_tasks, tiny_benchmark, verb_cache):
    out, _ = all_tasks
    with EventCache(verb_cache) as cache:
        valid = load_event_features(cache, tiny_benchmark, "valid")
    lvu = lvu_videos(None, tiny_benchmark)
    planted = [clip.ann_idx for clip in valid.clips if source_video(clip.clip_id) in lvu]
    assert planted == [0]  # the tiny benchmark cuts its first valid clip from an LVU movie (paper sec. 4: 241)
    assert without_lvu_overlap(valid, lvu).excluded == {0} and without_lvu_overlap(valid, set()).excluded == set()
    for task in TASK_ORDER:
        for record in read_records(out / task / "runs.jsonl"):
            path = out / task / "predictions" / f"{record['row']}_seed{record['seed']}.json"
            scored = sorted(entry["ann_idx"] for entry in json.loads(path.read_text()))
            assert scored == [clip.ann_idx for clip in valid.clips if clip.ann_idx not in planted]
    assert json.loads((out / "verb" / "setup.json").read_text())["unscored_lvu_overlap"] == [0]


def test_the_verb_head_learns_the_verbs_the_features_carry(verb_cache, tiny_benchmark, tmp_path):
    config = replace(CONFIG, epochs=20, batch_size=2, lr=2e-3)  # 8 training clips: 80 steps
    run(verb_cache, tiny_benchmark, tmp_path, config, ("verb",), rows=("features",))
    (record,) = read_records(tmp_path / "verb" / "runs.jsonl")
    assert record["metrics"]["acc1"] >= 0.6  # 13 training verbs: chance is below 0.1


def test_more_runs_resume_after_the_recorded_ones(verb_cache, tiny_benchmark, tmp_path):
    run(verb_cache, tiny_benchmark, tmp_path, tasks=("relation",), rows=("features",))
    first = read_records(tmp_path / "relation" / "runs.jsonl")
    run(verb_cache, tiny_benchmark, tmp_path, replace(CONFIG, runs=2), ("relation",), rows=("features",))
    records = read_records(tmp_path / "relation" / "runs.jsonl")
    assert records[0] == first[0] and [r["seed"] for r in records] == [0, 1]
    table = json.loads((tmp_path / "relation" / "table.json").read_text())
    assert len(table["rows"][0]["metrics"]["Macro_Top_1"]["values"]) == 2


def test_an_output_folder_of_another_setup_is_refused(verb_cache, tiny_benchmark, tmp_path):
    run(verb_cache, tiny_benchmark, tmp_path, tasks=("verb",), rows=("features",))
    with pytest.raises(HiermovieError, match="holds runs with another config"):
        run(verb_cache, tiny_benchmark, tmp_path, replace(CONFIG, lr=1e-3), ("verb",), rows=("features",))


def test_the_pretrained_txe_rows_and_the_comparison(verb_cache, tiny_benchmark, txe_checkpoint, tmp_path):
    config = replace(CONFIG, runs=2)
    run(verb_cache, tiny_benchmark, tmp_path, config, ("relation",), txe_checkpoint, rows=("scratch", "pretrained"))
    table = json.loads((tmp_path / "relation" / "table.json").read_text())
    assert [(row["model"], row["txe"]) for row in table["rows"]] == [("Slow-D+TxE", "N"), ("Slow-D+TxE", "MaskPred")]
    comparison = table["comparison"]
    means = [row["metrics"]["Macro_Top_1"]["mean"] for row in table["rows"]]
    assert comparison["difference"] == pytest.approx(means[1] - means[0]) and comparison["seeds"] == 2
    assert "MaskPred minus N (TxE from scratch) on Mean-Acc" in (tmp_path / "relation" / "table.md").read_text()


def test_a_txe_of_another_width_is_refused(verb_cache, tiny_benchmark, tmp_path):
    path = tmp_path / "wide.pt"
    config = replace(SCRATCH, input_dim=DIM + 1)
    save_checkpoint(path, kind="txe", config=config, step=1, model={}, txe=create_txe(config).state_dict())
    with pytest.raises(HiermovieError, match=f"TxE reads {DIM + 1}-d features, the cache holds {DIM}-d"):
        run(verb_cache, tiny_benchmark, tmp_path / "out", tasks=("verb",), txe=path)


def test_rows_are_chosen_per_task():
    assert choose_rows("verb", (), has_txe=False) == ("features", "scratch")
    assert choose_rows("srl", (), has_txe=True) == ("blind", "features", "scratch", "pretrained")
    assert choose_rows("relation", ("blind", "features"), has_txe=False) == ("features",)
    with pytest.raises(HiermovieError, match="unknown row 'txe'"):
        choose_rows("srl", ("txe",), has_txe=True)
    with pytest.raises(HiermovieError, match="needs a mask-prediction TxE checkpoint"):
        choose_rows("srl", ("pretrained",), has_txe=False)


def test_beam_search_decoding_runs_and_is_scored(verb_cache, tiny_benchmark, tmp_path):
    run(verb_cache, tiny_benchmark, tmp_path, replace(CONFIG, beam_size=3), ("srl",), rows=("features",))
    (record,) = read_records(tmp_path / "srl" / "runs.jsonl")
    predictions = tmp_path / "srl" / "predictions" / "features_seed0.json"
    rescored = evaluate("srl", predictions, tiny_benchmark / "vidsitu", partial=True)
    assert rescored == pytest.approx(record["metrics"])


def test_the_command_line(verb_cache, tiny_benchmark, tmp_path):
    def hiermovie(*args):
        command = [sys.executable, "-m", "hiermovie", "task", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=600)

    common = ["--cache", str(verb_cache), "--data", str(tiny_benchmark), "--profile", "tiny", "--device", "cpu"]
    result = hiermovie("verb", *common, "--out", str(tmp_path / "a"), "--runs", "1", "--epochs", "1")
    assert result.returncode == 0, result.stderr
    assert "| Slow-D | cvrl | - |" in result.stdout
    bad = hiermovie("srl", *common, "--out", str(tmp_path / "b"), "--rows", "features,pretrained")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert (
        bad.stderr.strip().splitlines()[-1] == "error: row 'pretrained' needs a mask-prediction TxE checkpoint (--txe)"
    )


def test_runs_in_worker_processes_record_what_one_process_records(verb_cache, tiny_benchmark, tmp_path):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as in each worker: the same float reductions
    try:
        for jobs in (1, 2):
            options = replace(QUIET, rows=("features", "scratch"), jobs=jobs)
            run_tasks(
                ("srl",),
                replace(CONFIG, runs=2),
                verb_cache,
                tiny_benchmark,
                tmp_path / f"{jobs}",
                None,
                SCRATCH,
                options,
            )
    finally:
        torch.set_num_threads(threads)
    alone, parallel = (read_records(tmp_path / f"{jobs}" / "srl" / "runs.jsonl") for jobs in (1, 2))
    by_run = itemgetter("row", "seed")
    assert len(alone) == 4 and sorted(alone, key=by_run) == sorted(parallel, key=by_run)


def test_role_loss_without_the_batchs_padding_columns_equals_the_padded_loss(verb_cache, tiny_benchmark):
    with EventCache(verb_cache) as cache:
        train, valid = (load_event_features(cache, tiny_benchmark, split) for split in ("train", "valid"))
    task = TASKS["srl"](train, valid, CONFIG, torch.device("cpu"))
    torch.manual_seed(0)
    model = task.build(make_encoder("scratch", DIM, (replace(SCRATCH, input_dim=DIM), None))).eval()
    clip = int(task.lengths.view(-1, 5).max(1).values.argmin())  # its sequences do not fill the padded width
    rows, sequences = torch.tensor([clip]), torch.arange(5 * clip, 5 * clip + 5)
    assert task.lengths[sequences].max() < task.inputs.shape[1]
    padded = model(task.train_features[rows], task.inputs[sequences])  # (5, T, vocab)
    expected = sequence_cross_entropy(padded.float(), task.targets[sequences], task.tokenizer.pad_id)
    torch.testing.assert_close(task.loss(model, rows), expected)


def test_an_undefined_rec5_shows_as_a_dash(tmp_path):
    # no verb with more than 9 records on valid: Rec@5 is NaN in every run (it depends on the references only)
    for seed in (0, 1):
        metrics = {"acc1": 0.5, "acc5": 0.75 + seed / 100, "rec5": math.nan, "rec5_verbs": 0.0}
        append_record(tmp_path / "runs.jsonl", {"row": "features", "seed": seed, "best_epoch": 1, "metrics": metrics})
    _write_table("verb", ("features",), 2, "Sup", tmp_path)
    assert "| Slow-D | Sup | - | 50.00 ± 0.00 | 75.50 ± 0.50 | - | 2 |" in (tmp_path / "table.md").read_text()
    rec5 = json.loads((tmp_path / "table.json").read_text())["rows"][0]["metrics"]["rec5"]
    assert math.isnan(rec5["mean"]) and all(math.isnan(value) for value in rec5["values"])  # not 0
