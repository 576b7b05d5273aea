"""Per-node kernel time of an ONNX file on onnxruntime (1 thread by default): where the milliseconds go.

    python lab/profile_onnx.py export/simplecnn/simplecnn_int8.onnx --json lab/profile_simplecnn_int8.json

Why: the bench gives one latency per file; deciding what to optimise (or that nothing is left to gain)
needs the split by node. Uses ORT's own profiler (``SessionOptions.enable_profiling``); the trace file
is written to a temporary folder and removed.

Lab script (lab/README.md). It imports edge_age internals (edge_age.bench.harness, fileio), so a rename there
can break it: tests/lab/test_lab_smoke.py runs its --help.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edge_age import fileio
from edge_age.bench.harness import machine_info


def node_times(path: Path, threads: int, runs: int, warmup: int = 0, x: np.ndarray | None = None) -> list[dict]:
    """Mean kernel ms per node over ``runs`` profiled runs after ``warmup`` ones, slowest first.

    ``order`` is the node's position in a run (0: the first kernel to run, e.g. the stem conv).
    ``x`` defaults to uniform noise of the input's shape (batch 1): kernel times do not depend on the values.
    """
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.enable_profiling = True
    with tempfile.TemporaryDirectory() as tmp:
        so.profile_file_prefix = os.path.join(tmp, "profile")
        s = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        inp = s.get_inputs()[0]
        if x is None:
            shape = [d if isinstance(d, int) and d > 0 else 1 for d in inp.shape]
            x = np.random.default_rng(0).random(shape, dtype=np.float32)
        for _ in range(warmup + runs):
            s.run(None, {inp.name: x})
        events = json.loads(Path(s.end_profiling()).read_text())
    # Keep the timed runs only: events from the start of the first run after the warm-up on.
    run_starts = sorted(e["ts"] for e in events if e.get("cat") == "Session" and e["name"] == "model_run")
    t0 = run_starts[warmup] if len(run_starts) > warmup else 0
    total: dict[tuple[str, str], float] = {}  # insertion order = execution order
    for e in events:
        if e.get("ts", 0) >= t0 and e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            key = (e["name"][: -len("_kernel_time")], e["args"].get("op_name", "?"))
            total[key] = total.get(key, 0.0) + e["dur"]
    nodes = [{"node": n, "op": op, "order": i, "ms": us / runs / 1e3} for i, ((n, op), us) in enumerate(total.items())]
    return sorted(nodes, key=lambda r: -r["ms"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    nodes = node_times(a.model, a.threads, a.runs, a.warmup)
    res = {"model": str(a.model), "threads": a.threads, "runs": a.runs, "sum_ms": sum(r["ms"] for r in nodes),
           "nodes": nodes, "machine": machine_info((a.threads,))}
    for r in res["nodes"][:12]:
        print(f"{r['ms']:8.3f} ms  {r['op']:<18} {r['node']}")
    print(f"{res['sum_ms']:8.3f} ms  sum of node kernel times")
    if a.json:
        fileio.write_json(a.json, res)


if __name__ == "__main__":
    main()
