import math

import pytest

from hiermovie.claims.verdicts import against_constant, best_of, paired_difference, verdict


def test_paired_difference_worked_example():
    # differences 1, 3, 2 -> mean 2, sample std 1, s.e. 1 / sqrt(3); a wins all three
    result = paired_difference({0: 11.0, 1: 13.0, 2: 12.0, 3: 99.0}, {0: 10.0, 1: 10.0, 2: 10.0})
    assert result["difference"] == pytest.approx(2.0)
    assert result["se"] == pytest.approx(1 / math.sqrt(3))
    assert (result["wins"], result["seeds"]) == (3, 3)  # seed 3 has no partner


def test_pairing_removes_shared_seed_noise():
    # both rows move together with the seed: unpaired the s.e. would be large, paired it is zero
    a = {s: 10.0 * s + 1 for s in range(5)}
    b = {s: 10.0 * s for s in range(5)}
    result = paired_difference(a, b)
    assert result["difference"] == pytest.approx(1.0) and result["se"] == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("difference", "se", "direction", "expected"),
    [
        (3.0, 1.0, 1, "reproduced"),
        (1.5, 1.0, 1, "not resolved"),
        (-3.0, 1.0, 1, "contradicted"),
        (-3.0, 1.0, -1, "reproduced"),
        (1.0, math.nan, 1, "not measured"),
    ],
)
def test_two_standard_error_rule(difference, se, direction, expected):
    assert verdict(difference, se, direction) == expected


@pytest.mark.parametrize(
    ("difference", "se", "expected"),
    [
        (0.5, 1.0, "reproduced"),  # reference 100: margin 5; the interval [-1.5, 2.5] lies within it
        (-2.0, 1.6, "not resolved"),  # [-5.2, 1.2] crosses the margin: too noisy to say "no difference"
        (4.0, 0.5, "reproduced"),  # a real difference (beyond 2 s.e.), but all of [3, 5] inside the margin
        (4.5, 1.0, "not resolved"),  # beyond 2 s.e., [2.5, 6.5] crosses the margin
        (6.0, 1.0, "contradicted"),  # beyond 2 s.e. and beyond the margin
        (0.0, 0.0, "reproduced"),
    ],
)
def test_no_difference_claims_are_an_equivalence_test_against_five_percent(difference, se, expected):
    assert verdict(difference, se, 0, reference=100.0) == expected
    assert verdict(difference, se, 0, reference=-100.0) == expected  # the margin is on the magnitude


def test_best_of_compares_with_the_runner_up():
    rows = {"a": {0: 5.0, 1: 6.0}, "b": {0: 4.0, 1: 4.5}, "c": {0: 1.0, 1: 1.0}}
    result = best_of(rows, "a")
    assert result["against"] == "b" and result["difference"] == pytest.approx(1.25) and result["wins"] == 2
    lower = best_of(rows, "c", higher_is_better=False)  # c is lowest: positive favours the claim
    assert lower["against"] == "b" and lower["difference"] == pytest.approx(3.25) and lower["wins"] == 2


def test_against_chance():
    result = against_constant({0: 25.0, 1: 25.0, 2: 25.0}, 25.0)
    assert result["difference"] == 0.0 and result["se"] == 0.0
    assert result["reference"] == 25.0
    assert verdict(result["difference"], result["se"], 0, result["reference"]) == "reproduced"
