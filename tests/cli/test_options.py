"""How options become a config, in process, with the library function replaced: an option left out keeps the
profile's value, one given is used as it is, 0 included."""

from dataclasses import replace
from pathlib import Path

from typer.testing import CliRunner

from hiermovie.claims import pipeline
from hiermovie.claims.config import ClaimsConfig
from hiermovie.cli.main import app
from hiermovie.contextualize import pretrain
from hiermovie.contextualize.config import TXE_PROFILES
from hiermovie.contextualize.data import VideoChoice

TXE_PRETRAIN = ["txe", "pretrain", "--cache", "cache", "--out", "out", "--profile", "tiny"]
SUMMARY = {
    "checkpoint": "out/checkpoint.pt",
    "step": 0,
    "val_windows": 1,
    "r1": 0.0,
    "r5": 0.0,
    "median_rank": 1,
    "pretrained_on": "x",
}


def test_an_explicit_zero_reaches_the_config_and_a_missing_option_keeps_the_profile(monkeypatch):
    calls = []
    monkeypatch.setitem(TXE_PROFILES, "tiny", replace(TXE_PROFILES["tiny"], hard_negatives=8))
    monkeypatch.setattr(pretrain, "pretrain_txe", lambda *args: calls.append(args) or SUMMARY)
    for extra in ([], ["--hard-negatives", "0", "--max-steps", "0"], ["--epochs", "3", "--batch-size", "5"]):
        result = CliRunner().invoke(app, [*TXE_PRETRAIN, *extra])
        assert result.exit_code == 0, result.output
    (kept, *_, kept_options), (zero, *_, zero_options), (given, *_) = calls
    assert kept == TXE_PROFILES["tiny"] and kept_options.max_steps is None  # all epochs
    assert zero == replace(kept, hard_negatives=0) and zero_options.max_steps == 0  # all distractors, no step
    assert given == replace(kept, epochs=3, batch_size=5)


def test_the_pretraining_videos_reach_the_options(monkeypatch):
    calls = []
    monkeypatch.setattr(pretrain, "pretrain_txe", lambda *args: calls.append(args) or SUMMARY)
    extra = ["--data", "bench", "--vidsitu-split", "train", "--lvu-split", "train", "--videos", "list.txt"]
    result = CliRunner().invoke(app, [*TXE_PRETRAIN, *extra])
    assert result.exit_code == 0, result.output
    assert calls[0][-1].videos == VideoChoice(Path("bench"), "train", "train", Path("list.txt"))
    assert "pretrained on x" in result.output


def test_a_count_of_zero_is_refused_where_it_means_nothing(monkeypatch):
    monkeypatch.setattr(pretrain, "pretrain_txe", lambda *args: SUMMARY)
    for option in ("--epochs", "--batch-size"):
        result = CliRunner().invoke(app, [*TXE_PRETRAIN, option, "0"])
        assert result.exit_code == 2 and "Invalid value" in result.output, result.output


def test_claims_seed_options_reach_their_own_fields_and_the_training_settings_keep_their_defaults(monkeypatch):
    calls = []
    monkeypatch.setattr(pipeline, "run_claims", lambda *args: calls.append(args) or "claims.md")
    seeds = ["--vidsitu-runs", "10", "--srl-runs", "3", "--lvu-runs", "5", "--grid-runs", "2", "--backbone-seeds", "4"]
    options = ["--size", "demo", "--seed", "1", "--tables", "5,1", "--device", "cpu", "--redo-stale"]
    result = CliRunner().invoke(app, ["claims", "--out", "out", *options, *seeds])
    assert result.exit_code == 0, result.output
    ((_, config, tables, device, redo_stale, _),) = calls
    expected = ClaimsConfig(size="demo", seed=1, vidsitu_runs=10, srl_runs=3, lvu_runs=5, grid_runs=2, backbone_seeds=4)
    assert config == expected and config.backbone_epochs == ClaimsConfig().backbone_epochs
    assert (tables, device, redo_stale) == (("5", "1"), "cpu", True)  # run in TABLE_GROUPS order


def test_claims_refuse_an_unknown_table_group_in_one_line():
    result = CliRunner().invoke(app, ["claims", "--tables", "4,6"])
    assert result.exit_code == 2 and "unknown table '6'; choose from 3, 5, 1, 2, 4" in result.output
