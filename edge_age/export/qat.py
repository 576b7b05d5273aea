"""Quantization-aware fine-tuning for the int8 TFLite file, by distillation from the float model.

Why: post-training int8 (PT2E, histogram ranges) of ``mobilenetv2_age`` scored 1.025-1.031 x the
fp32 MAE; the shift grew with age (+0.9 years above 40), so it is the accumulated rounding of 17
quantized layers, not one bad range. Fine-tuning the weights with the int8 rounding simulated in
the forward pass (fake quantization) lets them absorb it. The target is the float model's own
prediction on the same augmented face (distillation), not the label: measured on val faces,
fine-tuning on labels for one epoch made int8 *worse* (1.068 x), because it moved the weights
away from the epoch that validation had selected; matching the float model for half an epoch gave
0.994 x in the TFLite file.

Mechanics (litert-torch 0.10.0 + torchao PT2E): BatchNorm is folded into the convolutions first,
because litert-torch's QAT-only conv-bn annotators crash ("Expected mod to be an instance of
torch.nn.Module, got function"); with no BatchNorm left, the folded model is the same function and
the plain conv annotators apply. The graph is exported with a dynamic batch to train on batches,
and converted by litert-torch at batch 1 like the post-training path.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn as nn

from edge_age.data.preprocess import PreprocessSpec
from edge_age.errors import EdgeAgeError
from edge_age.export.pt2e import fix_pixel_input, fix_relu6_ranges


@dataclass(frozen=True)
class QATConfig:
    epochs: float = 0.5  # passes over the given faces
    lr: float = 1e-5
    batch_size: int = 64
    freeze_ranges_after: int = 200  # steps; then activation ranges stop moving and only weights adapt
    seed: int = 0

    def describe(self, n_faces: int) -> str:
        return (f"QAT: {self.steps(n_faces)} steps x {self.batch_size} train faces ({self.epochs:g} epoch), "
                f"distilled from the fp32 model, Adam lr {self.lr:g}, moving-average ranges frozen after "
                f"{self.frozen_at(n_faces)} steps; ReLU6 outputs fixed to 0..6")

    def steps(self, n_faces: int) -> int:
        return max(1, math.ceil(self.epochs * n_faces / self.batch_size))

    def frozen_at(self, n_faces: int) -> int:
        return max(1, min(self.freeze_ranges_after, self.steps(n_faces) // 3))  # ranges need one observed batch


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """Copy of ``model`` (eval) with every ``Conv2d -> BatchNorm2d`` pair fused into one conv.

    The pairs are found on the traced graph (torch.fx), not by module order, so the convs inside
    residual blocks fold too (a Sequential-only fold left ResNet's BatchNorms, which the QAT
    quantizer cannot take).
    """
    from torch.fx.experimental.optimization import fuse

    try:
        folded = fuse(copy.deepcopy(model).eval())
    except Exception as e:  # torch.fx raises many kinds for an untraceable forward
        raise EdgeAgeError(f"--qat-epochs: cannot trace the model to fold its BatchNorms ({type(e).__name__}: "
                           f"{str(e).splitlines()[0] if str(e) else ''}). Export without --qat-epochs") from None
    left = [n for n, m in folded.named_modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if left:
        raise EdgeAgeError(f"--qat-epochs needs every BatchNorm right after a conv (to fold it); "
                           f"{len(left)} not foldable here, e.g. {left[0]!r}. Export without --qat-epochs")
    return folded


def _quantizer() -> Any:
    from litert_torch.quantize import pt2e_quantizer

    class FoldedBNQuantizer(pt2e_quantizer.PT2EQuantizer):
        STATIC_QAT_ONLY_OPS: ClassVar[list[str]] = []  # BatchNorm is folded: nothing for the crashing conv-bn annotators

    return FoldedBNQuantizer().set_global(pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True,
                                                                                           is_qat=True))


def _fine_tune(graph: torch.fx.GraphModule, teacher: nn.Module, faces: np.ndarray, spec: PreprocessSpec,
               cfg: QATConfig, progress: bool, disable_observer: Any) -> None:
    """The QAT steps: the fake-int8 graph learns the float teacher's output on the same augmented input;
    the observers freeze (ranges fixed) after ``cfg.frozen_at`` steps."""
    from tqdm import tqdm

    from edge_age.train.tensors import to_input

    gen = torch.Generator().manual_seed(cfg.seed)
    order = torch.randperm(len(faces), generator=gen).numpy()
    steps, frozen_at = cfg.steps(len(faces)), cfg.frozen_at(len(faces))
    opt = torch.optim.Adam([p for p in graph.parameters() if p.requires_grad], lr=cfg.lr)
    bar = tqdm(range(steps), desc="QAT", leave=False, disable=not progress, dynamic_ncols=True)
    for step in bar:
        if step == frozen_at:
            graph.apply(disable_observer)
        start = (step * cfg.batch_size) % len(faces)
        idx = np.sort(order[start : start + cfg.batch_size])
        x = to_input(faces[idx], spec, gen).permute(0, 2, 3, 1).contiguous()
        with torch.no_grad():
            target = teacher(x)
        loss = (graph(x) - target).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")


def qat_graph(model: nn.Module, faces: np.ndarray, spec: PreprocessSpec, cfg: QATConfig,
              progress: bool = True) -> tuple[torch.fx.GraphModule, Any]:
    """Fine-tune ``model`` (NHWC float input, already export-ready) with fake int8; return the converted graph.

    ``faces`` are uint8 training crops, given the mild augmentation only (flip, small affine, colour; not
    the framing jitter or the photo degradations of ``train --degrade``): the target is the float
    model's output on the same input, whatever it is. Returns the PT2E graph
    with quantize/dequantize nodes (what litert-torch converts) and the quantizer that annotated it.
    """
    from torchao.quantization.pt2e import (
        disable_observer,
        move_exported_model_to_eval,
        move_exported_model_to_train,
        quantize_pt2e,
    )

    torch.manual_seed(cfg.seed)
    teacher = copy.deepcopy(model).eval()
    batch = torch.export.Dim("batch", min=1, max=4096)
    sample = (torch.zeros(2, spec.size, spec.size, 3),)
    graph = torch.export.export(fold_batchnorm(model), sample, dynamic_shapes=({0: batch},)).module()
    quantizer = _quantizer()
    graph = quantize_pt2e.prepare_qat_pt2e(graph, quantizer)
    fix_relu6_ranges(graph, qat=True)
    if spec.input_pixels:
        fix_pixel_input(graph, qat=True)
    move_exported_model_to_train(graph)
    _fine_tune(graph, teacher, faces, spec, cfg, progress, disable_observer)
    move_exported_model_to_eval(graph)
    return quantize_pt2e.convert_pt2e(graph, fold_quantize=False), quantizer
