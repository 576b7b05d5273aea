"""Turn a trained model into the graph that gets exported."""

from __future__ import annotations

import copy

import torch
import torch.nn as nn

from edge_age.models.registry import AgeScale


def fold_age_scale(model: nn.Module) -> nn.Module:
    """Copy of ``model`` with every ``Linear -> AgeScale`` pair folded into one Linear.

    ``years = mean + std * (W x + b)`` equals a Linear with ``W' = std W``, ``b' = std b + mean``.
    Folding removes two float ops, and in int8 files lets the last quantized op be the output, so
    the TFLite file has a true int8 output.
    """
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        for (_, a), (name_b, b) in zip(children, children[1:]):
            if isinstance(a, nn.Linear) and isinstance(b, AgeScale):
                with torch.no_grad():
                    a.weight.mul_(b.std)
                    a.bias.mul_(b.std).add_(b.mean)
                setattr(module, name_b, nn.Identity())
    return model


class NHWCInput(nn.Module):
    """Accept NHWC input (what phones and TFLite expect) in front of an NCHW model."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.permute(0, 3, 1, 2))
