"""Corrections to PT2E observer placement, shared by post-training quantization and QAT."""

from __future__ import annotations

import torch

# How int8 TFLite files of pixel-input models describe their input in the model card.
PIXEL_INPUT_NOTE = "input = pixel - 128 (scale 1)"


def _fix_observers(graph: torch.fx.GraphModule, names: set[str], scale: float, qat: bool) -> None:
    """Replace the named observers by fixed int8 parameters (zero point -128): a fake-quantizer under QAT."""
    from torchao.quantization.pt2e import FixedQParamsFakeQuantize
    from torchao.quantization.pt2e.observer import FixedQParamsObserver

    args = dict(scale=scale, zero_point=-128, dtype=torch.int8, quant_min=-128, quant_max=127)
    for name in names:
        setattr(graph, name, FixedQParamsFakeQuantize(observer=FixedQParamsObserver.with_args(**args)) if qat
                else FixedQParamsObserver(**args))


def fix_relu6_ranges(graph: torch.fx.GraphModule, qat: bool = False) -> None:
    """Give every ReLU6 (hardtanh 0..6) the fixed int8 range 0..6.

    litert-torch's PT2E quantizer makes hardtanh share the observer of its input, so a conv followed
    by ReLU6 was quantized over the conv's pre-activation range (e.g. -20..15): for
    ``mobilenetv2_age`` int8/fp32 MAE was 1.077 on val faces. Fixing the shared range to exactly
    what ReLU6 outputs brings it to 1.032, and the converter still fuses the ReLU6 into the conv
    (splitting it into ReLU + Hardtanh instead measured 1.029 but left 27 unfused RELU6 ops outside
    XNNPACK: 8.3 ms instead of 0.65 ms per face). With ``qat`` the range is a fixed fake-quantizer.
    """
    hardtanh = (torch.ops.aten.hardtanh.default, torch.ops.aten.hardtanh_.default)
    names = set()
    for n in graph.graph.nodes:
        if n.op == "call_function" and n.target in hardtanh and tuple(n.args[1:3]) == (0.0, 6.0):
            for m in (n.args[0], *n.users):
                if m.op == "call_module" and "activation_post_process" in str(m.target):
                    names.add(str(m.target))
    _fix_observers(graph, names, scale=6.0 / 255, qat=qat)


def fix_pixel_input(graph: torch.fx.GraphModule, qat: bool = False) -> bool:
    """Give the graph input the int8 range of pixels exactly: scale 1, zero point -128, so an int8 file
    takes ``pixel - 128`` and every runtime (and the Kotlin core) feeds it with one subtraction.

    Calibrated instead, the input range follows the calibration faces (a few levels short of 0..255),
    and rounding then differs between runtimes. Returns whether an input observer was found.
    """
    # From the input through layout-only ops (the NHWC -> NCHW permute) to the first observers.
    layout_ops = {"permute", "view", "reshape", "contiguous", "clone", "_to_copy"}
    names, todo = set(), [n for n in graph.graph.nodes if n.op == "placeholder"]
    while todo:
        for m in todo.pop().users:
            if m.op == "call_module" and "activation_post_process" in str(m.target):
                names.add(str(m.target))
            elif m.op == "call_function" and getattr(m.target, "__name__", "").split(".")[0] in layout_ops:
                todo.append(m)
    _fix_observers(graph, names, scale=1.0, qat=qat)
    return bool(names)
