"""`bench/gpu_check.py --device cpu`: the GPU check's code runs end to end at toy size."""

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "gpu_check.py"


def test_gpu_check_runs_at_toy_size_on_the_cpu(tmp_path):
    subprocess.run(
        [sys.executable, str(BENCH), "--device", "cpu", "--out", str(tmp_path)], check=True, capture_output=True
    )
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    assert report["device"] == "cpu" and 0.1 < report["backbone"]["gmacs_per_clip"] < 1
    assert [row["batch"] for row in report["backbone"]["batches"]] == [2, 4]
    extraction = report["extraction"]
    assert extraction["events"] == 4 * 5 and 0 < extraction["end_to_end_over_backbone"] < 2
    assert extraction["decode_clips_per_s_per_worker"] > 0 and report["txe"]["steps_per_s"] > 0
    assert report["torchrun"]["backbone"]["resumed_to_step"] == report["torchrun"]["txe"]["resumed_to_step"] == 3
    table = (tmp_path / "gpu_check.md").read_text()
    assert table.startswith("| section | figure | value |") and "decode_workers_per_device" in table
