import json
from dataclasses import asdict

import pytest

from hiermovie.claims.config import ClaimsConfig
from hiermovie.claims.pipeline import run_claims
from hiermovie.errors import HiermovieError


def test_a_claims_folder_refuses_another_benchmark(tmp_path):
    setup = {key: value for key, value in asdict(ClaimsConfig()).items() if not key.endswith("_runs")}
    (tmp_path / "setup.json").write_text(json.dumps(setup))
    with pytest.raises(HiermovieError, match="holds runs with another size; use a new --out"):
        run_claims(tmp_path, ClaimsConfig(size="demo"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["setup.json"]  # nothing generated or overwritten


def test_the_header_says_which_groups_ran_when_how_long_and_whether_their_code_is_current(tmp_path):
    from hiermovie.claims.pipeline import GROUPS_RECORD, _header
    from hiermovie.claims.versions import Ledger
    from hiermovie.results import append_record

    now = {stage: {"version": f"{stage}-1", "files": {}} for stage in ("backbones", "caches", "txe", "tasks")}
    old = {**{stage: entry["version"] for stage, entry in now.items()}, "tasks": "tasks-0"}
    for group, seconds, versions in (("3", 600.0, old), ("3", 1200.0, old), ("5", 900.0, old), ("5", 300.0, None)):
        versions = versions or {stage: entry["version"] for stage, entry in now.items()}
        append_record(
            tmp_path / GROUPS_RECORD, {"group": group, "finished": "then", "seconds": seconds, "versions": versions}
        )
    manifest = {"video_seconds": 1.0, "bytes": 1}
    header = _header(tmp_path, Ledger(tmp_path, now), ClaimsConfig(), manifest)
    assert (
        "| 3 | Table 3: event relations" in header and "| then | 30.0 min (2) | stale: tasks changed since |" in header
    )
    assert "| then | 5.0 min (1) | current |" in header  # group 5's last call, at today's code
    assert "| 4 | Table 4: verbs from each backbone, over backbone seeds | not run | - | - |" in header
    assert "| **all groups run** | | | **35.0 min** | |" in header
