"""Measure what padding the RGB input of an int8 ONNX file's first conv to 4 channels buys.

    python lab/stem_padding.py export/simplecnn/simplecnn_int8.onnx [--rounds 7] [--threads 1]

Builds the padded copy in memory with ``edge_age.export.onnx_export.pad_stem_channels`` (what the
exporter now does to every int8 ONNX file), checks both give the same ages, then times both in
alternating rounds (batch 1, after warm-up) so machine noise hits both alike. Prints a table and the
median per-round p50 latency and first-conv kernel time of each; ``--json FILE`` keeps the figures.

Lab script (lab/README.md). It imports edge_age internals (edge_age.export.onnx_export (torch), bench.harness,
fileio, and its sibling profile_onnx.py), so a rename there can break it: tests/lab/test_lab_smoke.py runs its
--help.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from edge_age import fileio
from edge_age.bench.harness import machine_info
from edge_age.export.onnx_export import pad_stem_channels
from profile_onnx import node_times  # lab/ sibling: the shared ORT-profile reader


def _session(path: Path, threads: int) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _round(path: Path, x: np.ndarray, threads: int, runs: int) -> tuple[float, float]:
    """One round: p50 latency (ms) of plain runs, and the first conv's mean kernel time (ms) from a profile."""
    s = _session(path, threads)
    name = s.get_inputs()[0].name
    for _ in range(20):
        s.run(None, {name: x})
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        s.run(None, {name: x})
        times.append(time.perf_counter() - t)
    convs = [n for n in node_times(path, threads, runs // 2, x=x) if n["op"] in ("QLinearConv", "Conv")]
    stem = min(convs, key=lambda n: n["order"])["ms"] if convs else float("nan")  # the first conv run is the stem
    return float(np.median(times) * 1e3), stem


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path, help="an int8 QDQ .onnx file with a 3-channel input")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--runs", type=int, default=200, help="timed runs per round (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    m = onnx.load(str(args.model))
    if not pad_stem_channels(m):
        raise SystemExit(f"{args.model}: no input -> Q -> DQ -> Conv stem with fewer than 4 channels to pad")
    with tempfile.TemporaryDirectory() as tmp:
        padded = Path(tmp) / "padded.onnx"
        onnx.save(m, str(padded))
        shape = [d.dim_value or 1 for d in m.graph.input[0].type.tensor_type.shape.dim]  # input stays 3-channel
        x = np.random.default_rng(0).normal(0, 1, (8, *shape[1:])).astype(np.float32)
        name = m.graph.input[0].name
        diff = float(np.abs(_session(args.model, 1).run(None, {name: x})[0]
                            - _session(padded, 1).run(None, {name: x})[0]).max())
        x = x[:1]
        res: dict[str, list[tuple[float, float]]] = {"original": [], "padded": []}
        for _ in range(args.rounds):
            res["original"].append(_round(args.model, x, args.threads, args.runs))
            res["padded"].append(_round(padded, x, args.threads, args.runs))
    out = {"model": str(args.model), "threads": args.threads, "rounds": args.rounds, "runs": args.runs,
           "max_abs_diff": diff, "machine": machine_info((args.threads,))}
    print(f"{args.model}: max |age difference| padded vs original {diff:g} (8 random inputs)")
    print("| file | p50 ms (median of rounds) | first conv ms |")
    print("|---|---:|---:|")
    for k, v in res.items():
        p50, conv = statistics.median(r[0] for r in v), statistics.median(r[1] for r in v)
        out[k] = {"p50_ms": round(p50, 3), "first_conv_ms": round(conv, 3)}
        print(f"| {k} | {p50:.2f} | {conv:.2f} |")
    if args.json:
        fileio.write_json(args.json, out)


if __name__ == "__main__":
    main()
