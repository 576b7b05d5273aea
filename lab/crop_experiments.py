"""Experiments on the crop rule (lab/lab_notes.md): the faces in context scored with the rotated crop
sampled another way than the product's, to see what the crop geometry costs before changing its contract.

- ``--sample-side N``: sample every face at N pixels per side instead of about one source pixel per output
  pixel (edge_age.data.framing.sample_side), so that every face reaches the model's resize at one resolution,
  e.g. the training chips' own (UTKFace: 200 px).
- ``--border reflect``: where the face's square reaches past the photo, mirror the photo at its edge instead of
  repeating the edge pixels (OpenCV's BORDER_REFLECT instead of BORDER_REPLICATE).
- ``--scales 0.92,1,1.08``: score every face once per scale of its framed square's side (one eval each, in
  OUT/scale_S) and report the MAE of each and of the mean estimate per face: what averaging over the framing's
  scale error (MTCNN's residual: 0.89-1.10, 5-95%, edge_age/reference/framing_mtcnn.json) would buy on the photo path.
- ``--flip-average``: passed on to every eval.
- ``--aligned-scale S --data ARCHIVE``: no detection: the aligned chips of the test split, each cropped to its
  central S of a side before the model's resize: does the model read a tighter (S < 1) crop of a true chip better
  or worse? It tells a framing that suits the model from one that suits the scenes' made-up surroundings.

    python lab/crop_experiments.py --sample-side 200 --out runs/eval/crop_side200 \
        --json lab/crop_experiments/side200.json

Not product options: a change of the crop contract would have to reach the Kotlin core and its goldens too.
A fresh --cache-dir keeps crops made by the product's rule out of the measurement.

Lab script (lab/README.md). It imports edge_age internals (edge_age.data.framing and .preprocess, whose
functions it swaps at run time; edge_age.cli, cli_types, fileio, formats), so a rename there can break it:
tests/lab/test_lab_smoke.py runs its --help.
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

import edge_age.data.framing as framing
import edge_age.data.preprocess as preprocess
from edge_age import fileio
from edge_age.cli import main as edge_age
from edge_age.cli_types import COUNT
from edge_age.formats import reference_file


_PRODUCT_WARP = framing.warp_square
_PRODUCT_CENTER = preprocess.center_square


def warp_square_reflect(img: np.ndarray, square: framing.Square, out: int) -> np.ndarray:
    """The product's warp_square on the photo mirrored at its edges (one image size each way: a face's square
    never reaches further), so samples past the edge read mirrored pixels instead of the edge's."""
    h, w = img.shape[:2]
    mirrored = cv2.copyMakeBorder(img, h, h, w, w, cv2.BORDER_REFLECT)
    return _PRODUCT_WARP(mirrored, replace(square, cx=square.cx + w, cy=square.cy + h), out)


def scaled_warp(scale: float):
    """The product's warp_square on the framed square with its side times ``scale`` (same centre and angle)."""
    def warp(img: np.ndarray, square: framing.Square, out: int) -> np.ndarray:
        return _PRODUCT_WARP(img, replace(square, side=square.side * scale), out)
    return warp


def central(share: float):
    """The product's center_square, then its central ``share`` of a side (the same centre)."""
    def crop(img: np.ndarray) -> np.ndarray:
        sq = _PRODUCT_CENTER(img)
        s = sq.shape[0]
        k = max(1, int(round(s * share)))
        o = (s - k) // 2
        return sq[o : o + k, o : o + k]
    return crop


def _estimates(folder: Path) -> tuple[dict[str, float], dict[str, float]]:
    with open(folder / "predictions.csv") as f:
        rows = list(csv.DictReader(f))
    return {r["name"]: float(r["estimate"]) for r in rows}, {r["name"]: float(r["age"]) for r in rows}


def _scales(args: argparse.Namespace, base: list[str]) -> int:
    """One eval per scale, then the MAE of each and of the per-face mean over the faces found at every scale."""
    runs = {}
    for scale in args.scales:
        framing.warp_square = scaled_warp(scale)
        out = Path(args.out) / f"scale_{scale:g}"
        with tempfile.TemporaryDirectory(prefix="edge-age-crop-") as cache:
            rc = edge_age(base + ["--cache-dir", cache, "--out", str(out), "--json", str(out / "eval.json")])
        if rc:
            return rc
        runs[scale] = _estimates(out)
    names = sorted(set.intersection(*(set(est) for est, _ in runs.values())))
    truth = next(iter(runs.values()))[1]
    y = np.array([truth[n] for n in names])
    per = {scale: np.array([est[n] for n in names]) for scale, (est, _) in runs.items()}
    mean = np.mean(list(per.values()), axis=0)
    record = {"command": "python lab/crop_experiments.py " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
              "model": args.model, "wild": args.wild, "flip_average": args.flip_average, "n": len(names),
              "mae": {f"{scale:g}": float(np.abs(p - y).mean()) for scale, p in per.items()},
              "mae_mean_of_scales": float(np.abs(mean - y).mean())}
    fileio.write_json(Path(args.json), record)
    print(json.dumps(record, indent=1))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sample-side", type=COUNT, default=0, help="pixels per side of every face's sample (0: the product's)")
    ap.add_argument("--border", choices=["replicate", "reflect"], default="replicate")
    ap.add_argument("--model", default=str(reference_file()), help="(default: %(default)s)")
    ap.add_argument("--wild", default="runs/wild_test/labels.csv", help="labels.csv of `edge-age data wild`")
    ap.add_argument("--out", required=True, help="eval folder (metrics.json, predictions.csv)")
    ap.add_argument("--json", required=True, help="eval's --json: the metrics with this command")
    ap.add_argument("--scales", type=lambda t: [float(v) for v in t.split(",")], default=None,
                    help="comma list of framing scales, each scored, then averaged per face")
    ap.add_argument("--flip-average", action="store_true", help="passed on to every eval")
    ap.add_argument("--aligned-scale", type=float, default=0.0, help="central share of each aligned test chip")
    ap.add_argument("--data", default="../shared/data/UTKFace.tar.gz", help="with --aligned-scale (default: %(default)s)")
    args = ap.parse_args()
    tail = ["--no-progress", "--threads", "1"] + ["--flip-average"] * args.flip_average
    base = ["eval", args.model, "--data", args.wild, "--split", "all", "--detect-faces", *tail]
    if args.scales:
        return _scales(args, base)
    if args.aligned_scale:
        preprocess.center_square = central(args.aligned_scale)
        base = ["eval", args.model, "--data", args.data, "--split", "test", *tail]
    if args.sample_side:
        framing.sample_side = lambda square, size, direct: args.sample_side  # crop_detection looks it up when called
    if args.border == "reflect":
        framing.warp_square = warp_square_reflect
    with tempfile.TemporaryDirectory(prefix="edge-age-crop-") as cache:
        rc = edge_age(base + ["--cache-dir", cache, "--out", args.out, "--json", args.json])
    if rc == 0:  # the eval command alone would measure the product's rule: record this one
        record = json.loads(Path(args.json).read_text())
        record["eval_command"] = record.get("command")
        record["command"] = "python lab/crop_experiments.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        fileio.write_json(Path(args.json), record)
    return rc


if __name__ == "__main__":
    sys.exit(main())
