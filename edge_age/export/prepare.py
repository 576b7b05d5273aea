"""Turn a trained model into the graph that gets exported."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
import torch.nn as nn

from edge_age.models.registry import AgeScale


def fold_pairs(model: nn.Module, first: type, second: type,
               fold: Callable[[nn.Module, nn.Module], nn.Module]) -> nn.Module:
    """Copy of ``model`` (eval) with each ``first -> second`` pair of neighbours in a Sequential
    replaced by ``fold(a, b) -> Identity``: the one place that knows how exportable pairs are found."""
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        children = list(module.named_children())
        for (name_a, a), (name_b, b) in zip(children, children[1:]):
            if isinstance(a, first) and isinstance(b, second):
                setattr(module, name_a, fold(a, b))
                setattr(module, name_b, nn.Identity())
    return model


def fold_age_scale(model: nn.Module) -> nn.Module:
    """Copy of ``model`` with every ``Linear -> AgeScale`` pair folded into one Linear.

    ``years = mean + std * (W x + b)`` equals a Linear with ``W' = std W``, ``b' = std b + mean``.
    Folding removes two float ops, and in int8 files lets the last quantized op be the output, so
    the TFLite file has a true int8 output.
    """
    @torch.no_grad()
    def fold(linear: nn.Linear, scale: AgeScale) -> nn.Linear:
        linear.weight.mul_(scale.std)
        linear.bias.mul_(scale.std).add_(scale.mean)
        return linear

    return fold_pairs(model, nn.Linear, AgeScale, fold)


def _replace(model: nn.Module, match: type, make) -> None:
    """Replace every submodule of type ``match`` by ``make(old)``, in place."""
    for name, child in model.named_children():
        if isinstance(child, match):
            setattr(model, name, make(child))
        else:
            _replace(child, match, make)


def quantization_friendly(model: nn.Module, input_size: int) -> nn.Module:
    """Copy of ``model`` with ``AdaptiveAvgPool2d(1)`` as a fixed ``AvgPool2d``; the function is unchanged.

    Found by a measured failure of ``mobilenetv2_age``: its int8 TFLite file, with a MEAN op before
    the last FC, returned one constant age for every face (saturated output); AVERAGE_POOL_2D
    converts correctly. (ReLU6 needs care too, in :func:`edge_age.export.pt2e.fix_relu6_ranges`.)
    """
    model = copy.deepcopy(model).eval()
    sides: dict[nn.Module, int] = {}
    hooks = [m.register_forward_hook(lambda mod, inp, out: sides.__setitem__(mod, inp[0].shape[-1]))
             for m in model.modules() if isinstance(m, nn.AdaptiveAvgPool2d) and m.output_size in (1, (1, 1))]
    with torch.no_grad():
        model(torch.zeros(1, 3, input_size, input_size))
    for h in hooks:
        h.remove()
    _replace(model, nn.AdaptiveAvgPool2d, lambda m: nn.AvgPool2d(sides[m]) if m in sides else m)
    return model


class NHWCInput(nn.Module):
    """Accept NHWC input (what phones and TFLite expect) in front of an NCHW model."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x.permute(0, 3, 1, 2))


class FlipAverage(nn.Module):
    """``model`` run on each face and on its mirror image in one batch, the two estimates averaged.

    Inside the graph, so every runtime (ONNX, TFLite, the Android app) gets it from the file alone with no
    change of contract 1. One batch of 2N rather than two calls: the weights appear once in the file. Costs two
    model passes per face; measured gain on the reference in lab/flip_average.md. Goes behind
    ``PixelInput`` (the per-channel normalisation commutes with the flip), which stays the first op; the int8
    ONNX file's stem is then not padded to 4 channels (``pad_stem_channels`` finds no input -> Q -> DQ -> Conv).
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # NCHW
        y = self.model(torch.cat([x, x.flip(-1)], 0))
        # A float mean, not (a + b) / 2: PT2E quantizes Add and Mul, which gave the int8 file an int8 output
        # whose range stopped at 81 years; the quantizer leaves MEAN of float outputs alone.
        return y.reshape(2, -1, y.shape[-1]).mean(0)


class PixelInput(nn.Module):
    """``model`` behind ``(x - mean) / std``: the exported file takes the resized crop's pixel values.

    The normalisation is one per-channel 1x1 convolution (weight 1/std, bias -mean/std) in front of the
    model, not a fold into its first convolution (that one pads with zeros in normalised space, which are
    ``mean`` in pixels: a fold would change the border) nor a Mul + Add (two requantizations in int8
    files; measured on the test model: int8 ONNX 1.054x fp32 MAE with Mul + Add). As one op, int8 files
    requantize once, as they did when they took normalised input; its int8 weights are exact (one per
    channel, per-channel scales).
    """

    def __init__(self, model: nn.Module, mean: tuple[float, ...], std: tuple[float, ...]) -> None:
        super().__init__()
        self.normalize = nn.Conv2d(3, 3, 1, groups=3, bias=True)
        std_t = torch.tensor(std, dtype=torch.float32)
        with torch.no_grad():
            self.normalize.weight.copy_((1 / std_t).view(3, 1, 1, 1))
            self.normalize.bias.copy_(-torch.tensor(mean, dtype=torch.float32) / std_t)
        self.normalize.requires_grad_(False)
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self.normalize(x))
