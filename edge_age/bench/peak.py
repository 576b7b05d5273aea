"""The physical limit: this core's own peak on a large fp32 and int8 matrix multiply.

Measured with onnxruntime (the same library, threads and kernels family the models run on), so a
model's achieved GMAC/s can be read as a share of what the hardware reaches on ideal work.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edge_age.bench.stats import time_calls


def matmul_model_path(int8: bool) -> Path:
    """A square MatMul (fp32) or MatMulInteger (u8 x s8 -> s32) graph of any size, shipped with the
    package: the runtime install has onnxruntime but not the ``onnx`` package that builds graphs
    (``tests/test_bench.py`` rebuilds them with ``onnx`` and compares the bytes)."""
    return Path(__file__).resolve().parent / f"matmul_{'int8' if int8 else 'fp32'}.onnx"


def measure_peak(threads: int, n: int = 1024, min_seconds: float = 1.0) -> dict[str, float]:
    """Best-of-runs GMAC/s for an n x n x n matmul, fp32 and int8 (u8 x s8 -> s32)."""
    import onnxruntime as ort

    out = {}
    rng = np.random.default_rng(0)
    for int8 in (False, True):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(matmul_model_path(int8)), so, providers=["CPUExecutionProvider"])
        if int8:
            feeds = {"a": rng.integers(0, 255, (n, n), dtype=np.uint8), "b": rng.integers(-127, 127, (n, n), dtype=np.int8)}
        else:
            feeds = {"a": rng.standard_normal((n, n), dtype=np.float32), "b": rng.standard_normal((n, n), dtype=np.float32)}
        ms = time_calls(lambda: sess.run(None, feeds), warmup=2, runs=5, min_seconds=min_seconds)
        out["int8_gmacs" if int8 else "fp32_gmacs"] = float(n**3 / (ms.min() / 1e3) / 1e9)
    return out
