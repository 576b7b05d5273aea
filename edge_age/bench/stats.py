"""Timing in the style of TFLite's benchmark_model and onnxruntime_perf_test.

Warm-up runs first, then at least ``runs`` timed runs and at least ``min_seconds`` of them.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np


def time_calls(fn: Callable[[], object], warmup: int, runs: int, min_seconds: float) -> np.ndarray:
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < runs or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) > 100_000:
            break
    return np.asarray(times) * 1e3  # ms


def summarize(ms: np.ndarray) -> dict[str, float]:
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    return {"runs": int(ms.size), "mean_ms": float(ms.mean()), "std_ms": float(ms.std()), "p50_ms": float(p50),
            "p90_ms": float(p90), "p99_ms": float(p99), "min_ms": float(ms.min())}
