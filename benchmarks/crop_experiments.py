"""Experiments on the crop rule (benchmarks/lab_notes.md): the faces in context scored with the rotated crop
sampled another way than the product's, to see what the crop geometry costs before changing its contract.

- ``--sample-side N``: sample every face at N pixels per side instead of about one source pixel per output
  pixel (edge_age.data.framing.sample_side), so that every face reaches the model's resize at one resolution,
  e.g. the training chips' own (UTKFace: 200 px).
- ``--border reflect``: where the face's square reaches past the photo, mirror the photo at its edge instead of
  repeating the edge pixels (OpenCV's BORDER_REFLECT instead of BORDER_REPLICATE).

    python benchmarks/crop_experiments.py --sample-side 200 --out runs/eval/crop_side200 \
        --json benchmarks/crop_experiments/side200.json

Not product options: a change of the crop contract would have to reach the Kotlin core and its goldens too.
A fresh --cache-dir keeps crops made by the product's rule out of the measurement.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

import edge_age.data.framing as framing
from edge_age import fileio
from edge_age.cli import main as edge_age
from edge_age.cli_types import COUNT
from edge_age.formats import reference_file


_PRODUCT_WARP = framing.warp_square


def warp_square_reflect(img: np.ndarray, square: framing.Square, out: int) -> np.ndarray:
    """The product's warp_square on the photo mirrored at its edges (one image size each way: a face's square
    never reaches further), so samples past the edge read mirrored pixels instead of the edge's."""
    h, w = img.shape[:2]
    mirrored = cv2.copyMakeBorder(img, h, h, w, w, cv2.BORDER_REFLECT)
    return _PRODUCT_WARP(mirrored, replace(square, cx=square.cx + w, cy=square.cy + h), out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sample-side", type=COUNT, default=0, help="pixels per side of every face's sample (0: the product's)")
    ap.add_argument("--border", choices=["replicate", "reflect"], default="replicate")
    ap.add_argument("--model", default=str(reference_file()), help="(default: %(default)s)")
    ap.add_argument("--wild", default="runs/wild_test/labels.csv", help="labels.csv of `edge-age data wild`")
    ap.add_argument("--out", required=True, help="eval folder (metrics.json, predictions.csv)")
    ap.add_argument("--json", required=True, help="eval's --json: the metrics with this command")
    args = ap.parse_args()
    if args.sample_side:
        framing.sample_side = lambda square, size: args.sample_side  # crop_detection looks it up when called
    if args.border == "reflect":
        framing.warp_square = warp_square_reflect
    with tempfile.TemporaryDirectory(prefix="edge-age-crop-") as cache:
        rc = edge_age(["eval", args.model, "--data", args.wild, "--split", "all", "--detect-faces",
                       "--no-progress", "--threads", "1", "--cache-dir", cache, "--out", args.out,
                       "--json", args.json])
    if rc == 0:  # the eval command alone would measure the product's rule: record this one
        record = json.loads(Path(args.json).read_text())
        record["eval_command"] = record.get("command")
        record["command"] = "python benchmarks/crop_experiments.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
        fileio.write_json(Path(args.json), record)
    return rc


if __name__ == "__main__":
    sys.exit(main())
