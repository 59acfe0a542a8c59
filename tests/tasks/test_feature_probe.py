"""The probe table of the cached tokens: labels from the annotations, chance as the valid majority."""

import subprocess
import sys

import pytest

from hiermovie.datasets.vidsitu import EVENTS, load_vidsitu
from hiermovie.tasks.feature_probe import event_targets, normalise_phrase, probe_event_features, probe_table


@pytest.mark.parametrize(
    ("phrase", "name"),
    [
        ("The red circle", "red circle"),
        ("a  Blue square", "blue square"),
        ("an amber disc", "amber disc"),
        ("theatre", "theatre"),
    ],
)
def test_phrases_lose_case_spacing_and_a_leading_article(phrase, name):
    assert normalise_phrase(phrase) == name


def test_targets_are_the_majority_verb_and_the_most_common_phrase(tiny_benchmark):
    clip = load_vidsitu(tiny_benchmark / "vidsitu", "valid").clips[0]
    targets = event_targets(clip, "Ev1")
    assert targets["verb"] in clip.verb_ids["Ev1"]
    phrases = [normalise_phrase(f.text) for a in clip.annotations for f in a.events["Ev1"].roles if f.role == "Arg0"]
    assert targets["Arg0 (acting character)"] == max(set(phrases), key=phrases.count)
    assert targets["location (AScn)"] is not None


def test_probe_rows_are_accuracies_next_to_their_chance(tiny_cache, tiny_benchmark):
    rows = probe_event_features(tiny_cache, tiny_benchmark)
    assert list(rows) == ["verb", "Arg0 (acting character)", "location (AScn)"]
    valid_events = len(load_vidsitu(tiny_benchmark / "vidsitu", "valid").clips) * len(EVENTS)
    for row in rows.values():
        assert 0 <= row["accuracy"] <= 1 and 0 < row["chance"] <= 1
        assert 0 < row["events"] <= valid_events and row["classes"] >= 1
    table = probe_table(rows)
    assert table.count("\n") == 4 and "| verb |" in table


def test_cli_prints_the_table_and_names_a_folder_without_vidsitu(tiny_cache, tiny_benchmark, tmp_path):
    run = [sys.executable, "-m", "hiermovie", "cache", "probe", str(tiny_cache), "--data"]
    result = subprocess.run([*run, str(tiny_benchmark)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "| location (AScn) |" in result.stdout
    missing = subprocess.run([*run, str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "no vidsitu_annotations" in missing.stderr
    assert "Traceback" not in missing.stderr
