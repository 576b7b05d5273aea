"""Distillation targets: a trained float teacher's age distribution for every training face.

Offline (computed once, before the first epoch) rather than per augmented batch: the teacher runs
at its own input size (128 px for ``mobilenetv2``) on the clean faces, which costs one forward pass
over the train split (a minute or two on 2 cores, plus decoding the faces at the teacher's size the
first time) instead of a teacher forward pass per step, which would make the 64 px student's epochs
several times slower. The student sees its usual augmented view of the same face; flips, small
affine jitter and colour changes leave the age unchanged.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from edge_age.models.checkpoint import build_model, load_checkpoint
from edge_age.fileio import sha256_file
from edge_age.data.dataset import DataConfig, load_dataset
from edge_age.data.preprocess import PreprocessSpec
from edge_age.errors import EdgeAgeError
from edge_age.models.registry import distribution_head
from edge_age.train.tensors import to_input


@torch.inference_mode()
def _distributions(model: torch.nn.Module, faces: np.ndarray, rows: np.ndarray, spec: PreprocessSpec,
                   device: torch.device, batch: int = 128) -> np.ndarray:
    """Softmax of the logits entering the distribution head: the exported graph ends in the
    expectation, so the distribution itself is read here rather than from the model's output."""
    head = distribution_head(model)
    assert head is not None
    logits: list[torch.Tensor] = []
    hook = head.register_forward_hook(lambda m, inputs, out: logits.append(inputs[0].float().cpu()))
    try:
        model.to(device).eval()
        for i in range(0, len(rows), batch):  # batch by batch: the 128 px faces are not copied as a whole
            model(to_input(faces[rows[i : i + batch]], spec, None).to(device))
    finally:
        hook.remove()
    return torch.softmax(torch.cat(logits), dim=1).numpy() if logits else np.zeros((0, head.num_bins), np.float32)


def _load_teacher(path: Path) -> tuple[dict[str, Any], torch.nn.Module]:
    """Every failure names --teacher: the student's own files are not at fault."""
    try:
        ckpt = load_checkpoint(path)
        model = build_model(ckpt, path)
    except EdgeAgeError as e:
        raise EdgeAgeError(f"--teacher: {e}") from e
    if "preprocess" not in ckpt or "data" not in ckpt:
        raise EdgeAgeError("--teacher: the checkpoint holds no preprocessing or data record (not written by "
                           "`edge-age train`)", path)
    if distribution_head(model) is None:
        raise EdgeAgeError("--teacher: this model has no distribution head to distil from; train the teacher "
                           "with --head distribution --loss dldl", path)
    return ckpt, model


def teacher_targets(path: str | Path, data_cfg: DataConfig, names: list[str], counts: dict[str, int],
                    rows: np.ndarray, num_bins: int, cache_dir: Path | None = None, progress: bool = True,
                    device: torch.device = torch.device("cpu")) -> tuple[np.ndarray, dict[str, Any]]:
    """The teacher's distribution for ``rows`` of the student's dataset, as a ``(len(names), num_bins)``
    array (zeros outside ``rows``), and what identifies the teacher (stored in the student's checkpoint).

    Refused unless the teacher was trained on the same split of the same data: a teacher that has
    seen the student's val or test faces would leak their ages into the student's targets and make
    its val MAE (hence best.pt) and test scores look better than they are.
    """
    path = Path(path)
    ckpt, model = _load_teacher(path)
    head = distribution_head(model)
    assert head is not None
    if head.num_bins != num_bins:
        raise EdgeAgeError(f"--teacher: its head has {head.num_bins} age bins, the student's {num_bins}", path)
    if ckpt["data"].get("split") != data_cfg.to_dict()["split"] or ckpt.get("split_counts") not in (None, counts):
        raise EdgeAgeError(f"--teacher: trained on another split (its split {ckpt['data'].get('split')}, counts "
                           f"{ckpt.get('split_counts')}; the student's {data_cfg.to_dict()['split']}, {counts}): it "
                           f"may have seen the student's val/test faces", path)
    spec = PreprocessSpec.from_dict(ckpt["preprocess"])
    ds = load_dataset(data_cfg, spec, cache_dir=cache_dir, progress=progress)
    if list(ds.faces.names) != list(names):
        raise EdgeAgeError(f"--teacher: with its preprocessing the data reads as {len(ds.faces.names)} faces, with "
                           f"the student's {len(names)}, not the same faces in the same order", path)
    targets = np.zeros((len(names), num_bins), np.float32)
    targets[rows] = _distributions(model, ds.faces.faces, rows, spec, device)
    val_mae = ckpt.get("metrics", {}).get("val_mae")
    info = {"path": str(path.resolve()), "sha256": sha256_file(path), "model": ckpt["model"],
            "val_mae": None if val_mae is None else float(val_mae), "input_size": spec.size}
    return targets, info
