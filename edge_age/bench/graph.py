"""Parameters and MACs of a model from its ONNX graph (shape inference), no torch needed."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def count_params_macs(onnx_path: str | Path) -> tuple[int, int]:
    """(parameters, multiply-accumulates for one image) of Conv/Gemm/MatMul layers."""
    import onnx
    from onnx import numpy_helper, shape_inference

    model = onnx.load(str(onnx_path))
    g = model.graph
    inp = g.input[0].type.tensor_type.shape
    dims = [d.dim_value if d.dim_value > 0 else 1 for d in inp.dim]  # batch 1
    del g.input[0].type.tensor_type.shape.dim[:]
    for d in dims:
        g.input[0].type.tensor_type.shape.dim.add().dim_value = d
    g = shape_inference.infer_shapes(model).graph
    shapes = {}
    for vi in list(g.value_info) + list(g.output) + list(g.input):
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    inits = {i.name: numpy_helper.to_array(i).shape for i in g.initializer}
    # QDQ graphs feed weights through DequantizeLinear: map its output back to the initializer.
    for n in g.node:
        if n.op_type == "DequantizeLinear" and n.input[0] in inits:
            inits[n.output[0]] = inits[n.input[0]]
    params = macs = 0
    for n in g.node:
        if n.op_type in ("Conv", "Gemm", "MatMul") and len(n.input) > 1 and n.input[1] in inits:
            w = inits[n.input[1]]
            params += int(np.prod(w))
            if len(n.input) > 2 and n.input[2] in inits:
                params += int(np.prod(inits[n.input[2]]))
            out = shapes.get(n.output[0])
            if n.op_type == "Conv" and out:
                macs += int(np.prod(out)) * int(np.prod(w[1:]))
            elif n.op_type in ("Gemm", "MatMul"):
                macs += int(np.prod(w))
    return params, macs
