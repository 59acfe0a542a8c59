import json
import math

import pytest

from hiermovie.errors import InputFileError
from hiermovie.results import append_record, format_mean_se, format_percent, mean_se, read_records


def test_records_survive_a_kill_during_the_last_append(tmp_path):
    path = tmp_path / "runs.jsonl"
    assert read_records(path) == []
    append_record(path, {"seed": 0, "value": 1.5})
    append_record(path, {"seed": 1, "value": 2.5})
    with path.open("a") as file:
        file.write('{"seed": 2, "val')  # the append a SIGKILL cut short
    assert [r["seed"] for r in read_records(path)] == [0, 1]
    path.write_text(json.dumps({"seed": 0}) + "\n{broken\n" + json.dumps({"seed": 2}) + "\n")
    with pytest.raises(InputFileError, match="line 2 is not a JSON record"):
        read_records(path)


def test_mean_and_standard_error():
    mean, error = mean_se([1.0, 2.0, 4.0])
    assert mean == pytest.approx(7 / 3)
    assert error == pytest.approx(math.sqrt(((1 - 7 / 3) ** 2 + (2 - 7 / 3) ** 2 + (4 - 7 / 3) ** 2) / 2 / 3))
    assert math.isnan(mean_se([3.0])[1]) and format_mean_se({"mean": 3.0, "se": math.nan}) == "3.00"
    assert format_mean_se({"mean": 12.345, "se": 0.5}, digits=1) == "12.3 ± 0.5"


def test_an_undefined_value_shows_as_a_dash(tmp_path):
    # Rec@5 with no qualifying verb is NaN: tables show "-", never "nan" or 0
    assert format_mean_se({"mean": math.nan, "se": math.nan}) == "-"
    assert format_percent(math.nan) == "-" and format_percent(0.1234) == "12.34" and format_percent(0.0) == "0.00"
    path = tmp_path / "runs.jsonl"
    append_record(path, {"rec5": math.nan})
    assert math.isnan(read_records(path)[0]["rec5"])  # our records keep NaN, json reads it back
