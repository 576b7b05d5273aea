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
from pathlib import Path

import numpy as np

import edge_age.data.framing as framing
from edge_age import fileio
from edge_age.cli import main as edge_age
from edge_age.cli_types import COUNT
from edge_age.formats import reference_file


def _reflect(i: np.ndarray, n: int) -> np.ndarray:
    """BORDER_REFLECT indices (... c b a | a b c ... z | z y x ...), clipped beyond one reflection."""
    i = np.where(i < 0, -i - 1, i)
    i = np.where(i >= n, 2 * n - i - 1, i)
    return np.clip(i, 0, n - 1)


def warp_square_reflect(img: np.ndarray, square: framing.Square, out: int) -> np.ndarray:
    """edge_age.data.framing.warp_square with the source indices reflected at the photo's edges instead of
    clipped (the same fixed-point bilinear weights)."""
    h, w = img.shape[:2]
    t = ((np.arange(out, dtype=np.float64) + 0.5) / out - 0.5) * square.side
    a, b = t[None, :], t[:, None]
    x0, wx = framing._split(square.cx + a * square.cos - b * square.sin - 0.5)
    y0, wy = framing._split(square.cy + a * square.sin + b * square.cos - 0.5)
    xa, xb, ya, yb = _reflect(x0, w), _reflect(x0 + 1, w), _reflect(y0, h), _reflect(y0 + 1, h)
    src = img.astype(np.int64)
    wx, wy = wx[..., None], wy[..., None]
    top = src[ya, xa] * (256 - wx) + src[ya, xb] * wx
    bottom = src[yb, xa] * (256 - wx) + src[yb, xb] * wx
    return ((top * (256 - wy) + bottom * wy + 32768) >> 16).astype(np.uint8)


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
