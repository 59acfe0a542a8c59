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
