"""Float ResNet baseline files for the bench, when no trained ones are at hand.

Freshly initialised (seeded) ResNet18/ResNet50 exported to fp32 ONNX and TFLite: their latency and
size are those of the trained networks (same graph), but their card says ``trained: false`` so the
bench reports their MAE as not measured. Trained baselines are exported with ``edge-age export``
like any checkpoint and picked up from ``export/`` instead.
"""

from __future__ import annotations

from pathlib import Path

import torch

from edge_age import fileio
from edge_age.data.preprocess import PreprocessSpec
from edge_age.export import onnx_export, tflite_export
from edge_age.export.prepare import fold_age_scale
from edge_age.models import create_model


def ensure_baselines(out_dir: Path, archs: tuple[str, ...] = ("resnet18", "resnet50")) -> list[Path]:
    spec = PreprocessSpec()
    files = []
    for arch in archs:
        name = f"{arch}_untrained"
        d = out_dir / name
        targets = [d / f"{name}_fp32.onnx", d / f"{name}_fp32.tflite"]
        if not all(t.exists() for t in targets):
            torch.manual_seed(0)
            model = fold_age_scale(create_model(arch).eval())
            card = {"name": arch, "model": arch, "trained": False, "preprocess": spec.to_dict(), "data": None,
                    "command": "edge-age bench --baselines", "files": {}}
            fileio.write_json(d / f"{name}.json", card)
            onnx_export.export_fp32(model, targets[0], spec, {k: card[k] for k in ("name", "model", "command")})
            tflite_export.export_fp32(model, targets[1], spec)
        files += targets
    return files
