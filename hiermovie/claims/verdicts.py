"""Pure functions that turn per-seed results into a claim's verdict (issue 13).

A claim compares two rows run with the same seeds: the paired difference d_s = a_s - b_s over the seeds
both have, its mean, its standard error (sample std / sqrt(n)) and the seeds a wins. The verdict follows
the 2 s.e. rule: a claim that a row is better (`direction` +1) is *reproduced* when the mean difference is
beyond 2 s.e. in that direction, *contradicted* when beyond 2 s.e. against it, *not resolved* otherwise. A
claim of no difference (`direction` 0, the paper's "≈") is an equivalence test against a margin of
EQUIVALENCE_MARGIN x the reference row's mean: reproduced when the whole 2 s.e. interval lies within the
margin, contradicted when the difference is beyond both 2 s.e. and the margin, not resolved otherwise (a
noisy "no difference" proves nothing).
"""

import math
from collections.abc import Mapping, Sequence

from hiermovie.results import mean_se

REPRODUCED, NOT_RESOLVED, CONTRADICTED, NOT_MEASURED = "reproduced", "not resolved", "contradicted", "not measured"
EQUIVALENCE_MARGIN = 0.05  # "≈": a difference within 5% of the reference row's mean counts as none


def paired_difference(a: Mapping[int, float], b: Mapping[int, float]) -> dict:
    """Mean and s.e. of a - b over the seeds both rows ran; seeds where a is higher; their number; the mean
    of b over those seeds (the reference of an equivalence margin)."""
    seeds = sorted(set(a) & set(b))
    differences = [a[s] - b[s] for s in seeds]
    mean, error = mean_se(differences)
    reference = mean_se([b[s] for s in seeds])[0]
    wins = sum(d > 0 for d in differences)
    return {"difference": mean, "se": error, "wins": wins, "seeds": len(seeds), "reference": reference}


def verdict(difference: float, se: float, direction: int, reference: float = math.nan) -> str:
    """The 2 s.e. rule for `difference` ± `se`; direction +1: the paper says positive, -1 negative, 0 equal
    (then tested against EQUIVALENCE_MARGIN x |`reference`|, the compared row's mean)."""
    if math.isnan(difference) or math.isnan(se):
        return NOT_MEASURED
    beyond = abs(difference) > 2 * se
    if direction == 0:
        margin = EQUIVALENCE_MARGIN * abs(reference)  # nan without a reference: never within, never beyond
        if abs(difference) + 2 * se <= margin:
            return REPRODUCED
        return CONTRADICTED if beyond and abs(difference) > margin else NOT_RESOLVED
    if not beyond:
        return NOT_RESOLVED
    return REPRODUCED if math.copysign(1, difference) == direction else CONTRADICTED


def best_of(rows: Mapping[str, Mapping[int, float]], claimed: str, higher_is_better: bool = True) -> dict:
    """The claim "`claimed` is the best of `rows`": the paired difference of `claimed` minus the best other
    row (by mean), sign-flipped when lower is better, so that positive always favours the claim."""
    sign = 1 if higher_is_better else -1
    others = {name: values for name, values in rows.items() if name != claimed}

    def mean_of(values: Mapping[int, float]) -> float:
        return sign * mean_se(list(values.values()))[0]

    runner_up = max(others, key=lambda name: mean_of(others[name]))
    compared = paired_difference(rows[claimed], others[runner_up])
    compared["difference"] *= sign
    if sign < 0:
        compared["wins"] = compared["seeds"] - compared["wins"]
    return {**compared, "against": runner_up}


def against_constant(values: Mapping[int, float], constant: float) -> dict:
    """Mean of values minus a constant (e.g. chance), its s.e., the seeds above it."""
    return paired_difference(values, dict.fromkeys(values, constant))


def per_seed(values: Sequence[float]) -> dict[int, float]:
    """{seed: value} of a table's per-seed list (seeds 0, 1, ... in order)."""
    return dict(enumerate(values))
