"""Latency statistics, in one place for the desktop benchmark, the host runner, the
converters' validation and the collector: min / median / mean / p90 / std / max / trimmed
mean of a list of samples, and the timed loop that produces them on a host runtime.

Pure Python (no numpy import) so the collector can use it per request. Percentiles
interpolate linearly between order statistics, as numpy's default does; std is the
sample standard deviation (n - 1), 0 for a single sample.
"""

from __future__ import annotations

import math
import statistics
import time
from typing import Callable, Sequence


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear interpolation between closest ranks."""
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0..100, got {q}")
    xs = sorted(samples)
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def trimmed_mean(samples: Sequence[float], proportion: float = 0.1) -> float:
    """Mean without the lowest and highest `proportion` of samples (10% each side by
    default): robust to the odd preempted iteration on a shared machine."""
    if not samples:
        raise ValueError("trimmed mean of no samples")
    if not 0 <= proportion < 0.5:
        raise ValueError(f"trim proportion must be within [0, 0.5), got {proportion}")
    xs = sorted(samples)
    k = int(len(xs) * proportion)
    kept = xs[k:len(xs) - k] if k else xs
    return statistics.fmean(kept)


def summarize(samples: Sequence[float]) -> dict[str, float]:
    """The fields of the wire format's `Stats`: min, median, mean, p90, std, max, trimmed_mean."""
    if not samples:
        raise ValueError("no samples to summarize")
    xs = [float(x) for x in samples]
    return {
        "min": min(xs),
        "median": statistics.median(xs),
        "mean": statistics.fmean(xs),
        "p90": percentile(xs, 90),
        "std": statistics.stdev(xs) if len(xs) > 1 else 0.0,
        "max": max(xs),
        "trimmed_mean": trimmed_mean(xs),
    }


def timed_runs(fn: Callable[[], object], iters: int, warmup: int = 0) -> list[float]:
    """Call `fn` `warmup` times untimed, then `iters` times, returning each call's wall time in
    ms (perf_counter). For host runtimes, whose calls return only when the work is done."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return times

