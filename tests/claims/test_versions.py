import json

import pytest

from hiermovie.claims import versions
from hiermovie.claims.versions import Ledger, closure, code_versions, syntax_digest
from hiermovie.errors import HiermovieError

INPUTS = {"benchmark": {"version": "b1", "files": {}}, "backbone inputs": {"version": "k1", "files": {}}}


def _package(root):
    """A tiny stand-in for the hiermovie package: a pretrain entry importing a shared helper."""
    package = root / "hiermovie"
    for folder in ("extract", "datasets/synth", "contextualize", "tasks"):
        (package / folder).mkdir(parents=True, exist_ok=True)
    files = {
        "__init__.py": "",
        "helper.py": "def f():\n    return 1\n",
        "extract/__init__.py": "",
        "extract/pretrain.py": "from hiermovie import helper\n",
        "extract/featurize.py": "import hiermovie.extract.pretrain\n",
        "datasets/__init__.py": "",
        "datasets/synth/__init__.py": "",
        "datasets/synth/oracle.py": "",
        "contextualize/__init__.py": "",
        "contextualize/pretrain.py": "",
        "contextualize/ablate.py": "",
        "contextualize/retrieval.py": "",
        "tasks/__init__.py": "",
        "tasks/runs.py": "",
    }
    for name, text in files.items():
        (package / name).write_text(text)
    return package


def test_the_closure_follows_imports_and_their_packages(tmp_path):
    package = _package(tmp_path)
    found = closure(("hiermovie.extract.featurize",), package)
    assert set(found) == {"hiermovie", "hiermovie.extract", "hiermovie.extract.featurize"} | {
        "hiermovie.extract.pretrain",
        "hiermovie.helper",
    }


def test_a_code_change_makes_its_stage_and_every_later_stage_new_but_a_docstring_does_not(tmp_path):
    package = _package(tmp_path)
    before = code_versions(INPUTS, package)
    (package / "helper.py").write_text('def f():\n    """Says one."""\n    return 1  # one\n')
    assert code_versions(INPUTS, package) == before  # docs, comments and layout are not code
    (package / "helper.py").write_text("def f():\n    return 2\n")
    after = code_versions(INPUTS, package)
    assert all(after[stage]["version"] != before[stage]["version"] for stage in versions.STAGES)
    (package / "tasks/runs.py").write_text("X = 1\n")
    last = code_versions(INPUTS, package)
    changed = [stage for stage in versions.STAGES if last[stage]["version"] != after[stage]["version"]]
    assert changed == ["tasks"]


def test_new_data_for_the_backbones_changes_every_stage_but_a_new_benchmark_spares_the_backbones(tmp_path):
    package = _package(tmp_path)
    before = code_versions(INPUTS, package)
    other = code_versions({**INPUTS, "benchmark": {"version": "b2", "files": {}}}, package)
    assert other["backbones"] == before["backbones"]  # the LVU part changed, not the clips they train on
    assert other["caches"]["version"] != before["caches"]["version"]
    other = code_versions({**INPUTS, "backbone inputs": {"version": "k2", "files": {}}}, package)
    assert other["backbones"]["version"] != before["backbones"]["version"]


def test_syntax_digest_ignores_docstrings_not_strings():
    assert syntax_digest('"""Doc."""\nX = 1\n') == syntax_digest("X = 1  # comment\n")
    assert syntax_digest('X = "a"\n') != syntax_digest('X = "b"\n')


def test_a_stale_step_is_refused_with_the_changed_file_then_redone_on_request(tmp_path, monkeypatch):
    package = _package(tmp_path / "src")
    out = tmp_path / "out"
    step = out / "backbone" / "cvrl_seed0"
    ledger = Ledger(out, code_versions(INPUTS, package))
    ledger.claim(step, "backbones")
    step.mkdir(parents=True)
    (step / "summary.json").write_text("{}")
    assert Ledger(out, code_versions(INPUTS, package)).is_current(step, "backbones")  # reread from steps.json

    (package / "helper.py").write_text("def f():\n    return 2\n")
    changed = code_versions(INPUTS, package)
    with pytest.raises(HiermovieError, match=r"cvrl_seed0: made by other code \(hiermovie/helper.py\); rerun with"):
        Ledger(out, changed).claim(step, "backbones")
    assert (step / "summary.json").is_file()  # refused: nothing lost
    Ledger(out, changed, redo_stale=True).claim(step, "backbones")
    assert not step.exists()  # cleared for the redo, and recorded as current
    assert (
        json.loads((out / "steps.json").read_text())["steps"]["backbone/cvrl_seed0"]["version"]
        == (changed["backbones"]["version"])
    )


def test_outputs_from_before_versions_were_recorded_are_stale(tmp_path):
    step = tmp_path / "tasks" / "lvu"
    step.mkdir(parents=True)
    (step / "runs.jsonl").write_text("")
    ledger = Ledger(tmp_path, code_versions(INPUTS))
    assert not ledger.is_current(step, "tasks")
    with pytest.raises(HiermovieError, match="made before code versions were recorded"):
        ledger.claim(step, "tasks")


def test_the_real_stages_cover_their_entry_modules():
    found = code_versions(INPUTS)
    assert "hiermovie/extract/pretrain.py" in found["backbones"]["files"]
    assert "hiermovie/tasks/runs.py" in found["tasks"]["files"]
    assert "hiermovie/claims/report.py" not in found["tasks"]["files"]  # the report reads, it makes nothing
