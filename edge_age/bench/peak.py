"""The physical limit: this core's own peak on a large fp32 and int8 matrix multiply.

Measured with onnxruntime (the same library, threads and kernels family the models run on), so a
model's achieved GMAC/s can be read as a share of what the hardware reaches on ideal work.
"""

from __future__ import annotations

import numpy as np

from edge_age.bench.stats import time_calls


def _matmul_model(int8: bool, n: int):
    from onnx import TensorProto, helper

    if int8:
        a = helper.make_tensor_value_info("a", TensorProto.UINT8, [n, n])
        b = helper.make_tensor_value_info("b", TensorProto.INT8, [n, n])
        y = helper.make_tensor_value_info("y", TensorProto.INT32, [n, n])
        node = helper.make_node("MatMulInteger", ["a", "b"], ["y"])
    else:
        a = helper.make_tensor_value_info("a", TensorProto.FLOAT, [n, n])
        b = helper.make_tensor_value_info("b", TensorProto.FLOAT, [n, n])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])
        node = helper.make_node("MatMul", ["a", "b"], ["y"])
    graph = helper.make_graph([node], "peak", [a, b], [y])
    # IR 9 (ONNX 1.14+) is read by every onnxruntime a device is likely to have.
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9).SerializeToString()


def measure_peak(threads: int, n: int = 1024, min_seconds: float = 1.0) -> dict[str, float]:
    """Best-of-runs GMAC/s for an n x n x n matmul, fp32 and int8 (u8 x s8 -> s32)."""
    import onnxruntime as ort

    out = {}
    rng = np.random.default_rng(0)
    for int8 in (False, True):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(_matmul_model(int8, n), so, providers=["CPUExecutionProvider"])
        if int8:
            feeds = {"a": rng.integers(0, 255, (n, n), dtype=np.uint8), "b": rng.integers(-127, 127, (n, n), dtype=np.int8)}
        else:
            feeds = {"a": rng.standard_normal((n, n), dtype=np.float32), "b": rng.standard_normal((n, n), dtype=np.float32)}
        ms = time_calls(lambda: sess.run(None, feeds), warmup=2, runs=5, min_seconds=min_seconds)
        out["int8_gmacs" if int8 else "fp32_gmacs"] = float(n**3 / (ms.min() / 1e3) / 1e9)
    return out
