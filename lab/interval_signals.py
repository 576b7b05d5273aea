"""Which signals known at run time track a face's error? (issue 36 item 2, the first measurement.) For a checkpoint
with a distribution head (the reference recipe's), on a split of a dataset (faces in context through detection, or
aligned chips): the Spearman correlation with |error| of the head's own spread (the standard deviation of its
softmax over one-year bins), the crop's sharpness (variance of its Laplacian), its colourfulness (grey photos) and
the estimate itself (today's intervals widen by predicted-age band only); and the same per true-age band.

Imports edge_age internals (checkpoint, dataset); smoke-tested by tests/lab.

    python lab/interval_signals.py runs/r33/reference_blazeface/best.pt --data runs/wild_val/labels.csv \
        --detect-faces --split all --json lab/interval_signals_val_scenes.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
import torch

from edge_age.data.dataset import config_for_model, load_dataset
from edge_age.data.preprocess import PreprocessSpec
from edge_age.eval.metrics import AGE_BANDS, band_name
from edge_age.models.checkpoint import build_model, load_checkpoint
from edge_age.models.registry import distribution_head
from edge_age.train.tensors import to_input


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


@torch.no_grad()
def estimates_and_spread(model: torch.nn.Module, faces: np.ndarray, spec: PreprocessSpec) -> tuple[np.ndarray, np.ndarray]:
    """Each face's expected age and the standard deviation of the head's distribution over years."""
    head = distribution_head(model)
    if head is None:
        raise SystemExit("the checkpoint has no distribution head (train with --head distribution)")
    seen: list[torch.Tensor] = []
    hook = head.register_forward_hook(lambda m, args, out: seen.append(torch.softmax(args[0].float(), dim=1)))
    model.eval()
    means = []
    for i in range(0, len(faces), 256):
        means.append(model(to_input(faces[i:i + 256], spec, None)).float().reshape(-1))
    hook.remove()
    prob = torch.cat(seen)
    bins = head.bins
    mean = prob @ bins
    std = torch.sqrt((prob * (bins[None] - mean[:, None]) ** 2).sum(1))
    return torch.cat(means).numpy(), std.numpy()


def image_signals(faces: np.ndarray) -> dict[str, np.ndarray]:
    grey = [cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in faces]
    sharp = np.array([cv2.Laplacian(g, cv2.CV_64F).var() for g in grey])
    colour = np.array([float(np.abs(f.astype(np.int16) - f.mean(axis=2, keepdims=True)).mean()) for f in faces])
    return {"sharpness": sharp, "colourfulness": colour}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--data", required=True)
    ap.add_argument("--detect-faces", action="store_true")
    ap.add_argument("--split", default="val")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    ckpt = load_checkpoint(args.checkpoint)
    model = build_model(ckpt, args.checkpoint)
    spec = PreprocessSpec.from_dict(ckpt["preprocess"])
    cfg = config_for_model(ckpt["data"], args.data, detect_faces=args.detect_faces)
    ds = load_dataset(cfg, spec, progress=False, splits=None if args.split == "all" else (args.split,))
    idx = ds.indices(args.split)
    faces, y = np.asarray(ds.faces.faces)[idx], ds.faces.ages[idx]
    p, spread = estimates_and_spread(model, faces, spec)
    err = np.abs(p - y)
    signals = {"head_spread": spread, "estimate": p, **image_signals(faces)}
    per_band = {}
    for lo, hi in AGE_BANDS:
        sel = (y >= lo) & (y <= hi)
        if sel.sum() >= 30:
            per_band[band_name(lo, hi)] = {"n": int(sel.sum()), **{k: round(spearman(v[sel], err[sel]), 3)
                                                                   for k, v in signals.items()}}
    result = {"command": "python lab/interval_signals.py " + " ".join(
                  [str(args.checkpoint), "--data", args.data, *(["--detect-faces"] if args.detect_faces else []),
                   "--split", args.split] + (["--json", str(args.json)] if args.json else [])),
              "n": int(len(y)), "mae": round(float(err.mean()), 3),
              "spearman_with_abs_error": {k: round(spearman(v, err), 3) for k, v in signals.items()},
              "per_true_age_band": per_band}
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
