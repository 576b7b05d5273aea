"""One measurement in a fresh process: ``python -m edge_age.bench.worker '{json}'`` prints JSON.

A process per (file, threads) isolates peak memory, thread pools and allocator state, so each row
is measured as a device would run that one model.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import numpy as np

from edge_age.bench.stats import summarize, time_calls


def peak_rss_mb() -> float:
    """Peak resident memory of this process.

    ``ru_maxrss`` survives execve on Linux, so a worker started from a big parent would report the
    parent's peak; VmHWM belongs to the new address space.
    """
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def measure(file: str, threads: int, warmup: int, runs: int, min_seconds: float, batch: int) -> dict:
    from edge_age.runtime import load_predictor

    t0 = time.perf_counter()
    predictor = load_predictor(file, threads=threads)
    load_s = time.perf_counter() - t0
    size = predictor.spec.size
    face = np.random.default_rng(0).integers(0, 256, (1, size, size, 3), dtype=np.uint8)
    t0 = time.perf_counter()
    predictor.predict(face)
    first_ms = (time.perf_counter() - t0) * 1e3
    lat = summarize(time_calls(lambda: predictor.predict(face), warmup, runs, min_seconds))
    faces = np.repeat(face, batch, axis=0)
    tb = time_calls(lambda: predictor.predict(faces), 1, 3, min(min_seconds, 2.0))
    return {
        "runtime": predictor.runtime, "load_s": load_s, "first_ms": first_ms, **lat,
        "throughput_ips": float(batch / (np.median(tb) / 1e3)), "batch": batch,
        "peak_rss_mb": peak_rss_mb(),
        "torch_loaded": "torch" in sys.modules,
        "kernels": "safe" if getattr(predictor, "safe", False) else "default",
    }


if __name__ == "__main__":
    args = json.loads(sys.argv[1])
    try:
        print(json.dumps(measure(**args)))
    except Exception as e:  # reported as the row's error; the rest of the table still runs
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}))
