"""The benchmarks' shared timer (run as `python bench/<script>.py`, so this folder is on the path)."""

import statistics
import time


def timed(fn, repeats: int) -> tuple[float, object]:
    """(median seconds over `repeats` calls, the last result)."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result
