"""Float ResNet baseline files for the bench, when no trained ones are at hand.

Freshly initialised (seeded) ResNet18/ResNet50 exported to fp32 ONNX and TFLite: their latency and
size are those of the trained networks (same graph), but their card says ``trained: false`` so the
bench reports their MAE as not measured. Trained baselines are exported with ``edge-age export``
like any checkpoint and picked up from ``export/`` instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn as nn

from edge_age.data.preprocess import PreprocessSpec
from edge_age.export import onnx_export, tflite_export
from edge_age.export.prepare import fold_age_scale
from edge_age.models import create_model
from edge_age.runtime.card import ModelCard


BASELINE_VERSION = 2  # bump when the stand-in weights change, so cached files are rebuilt


def stand_in_weights(model: nn.Module) -> nn.Module:
    """Random but non-degenerate weights, so the exported graph is the full trained-size network.

    The from-scratch init zeroes the last BatchNorm of every residual branch and shrinks the head;
    exporters constant-fold such branches away (measured: a 0.75 MB ResNet18 TFLite running in 2.8 ms
    instead of 44.7 MB and 20 ms), which would make the baseline look far faster than a trained one.
    """
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_((torch.rand(m.bias.shape, generator=g) - 0.5) * 0.2)
                m.running_mean.copy_((torch.rand(m.running_mean.shape, generator=g) - 0.5) * 0.2)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            elif isinstance(m, nn.Linear):
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * 0.05)
    return model


def ensure_baselines(out_dir: Path, archs: tuple[str, ...] = ("resnet18", "resnet50")) -> list[Path]:
    spec = PreprocessSpec()
    files = []
    for arch in archs:
        name = f"{arch}_untrained"
        d = out_dir / name
        targets = [d / f"{name}_fp32.onnx", d / f"{name}_fp32.tflite"]
        card_file = d / f"{name}.json"
        current = card_file.exists() and json.loads(card_file.read_text()).get("baseline_version") == BASELINE_VERSION
        if not (current and all(t.exists() for t in targets)):
            torch.manual_seed(0)
            model = fold_age_scale(stand_in_weights(create_model(arch)).eval())
            card = ModelCard(name=arch, model=arch, preprocess=spec, trained=False, baseline_version=BASELINE_VERSION,
                             command="edge-age bench --baselines")
            card.write(card_file)
            onnx_export.export_fp32(model, targets[0], spec, {"name": arch, "model": arch, "command": card.command})
            tflite_export.export_fp32(model, targets[1], spec)
        files += targets
    return files
