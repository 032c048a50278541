"""Interleaved timing shared by the benchmarks.

Ours and PyTorch alternate round by round, so a change in machine load hits
both; each side's time is the median over rounds, and the ratio (ours /
PyTorch) is the median of the per-round ratios.
"""
import statistics
import time
from collections import namedtuple

Timing = namedtuple("Timing", "ours theirs ratio")


def per_call(fn, inner=1):
    """Seconds per call of ``fn()``, averaged over ``inner`` back-to-back calls."""
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def interleaved(ours, theirs, rounds, inner=1, warmup=1):
    """Median seconds per call of ``ours()`` and ``theirs()`` and the median per-round ratio."""
    for _ in range(warmup):
        ours()
        theirs()
    a, b = [], []
    for _ in range(rounds):
        a.append(per_call(ours, inner))
        b.append(per_call(theirs, inner))
    return Timing(statistics.median(a), statistics.median(b), statistics.median(x / y for x, y in zip(a, b)))
