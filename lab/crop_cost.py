"""What one face crop costs before the model, on a 640x480 photo: `warp_square` (the framed square sampled at about
one pixel per source pixel, at most 4x the model side) + `prepare_face` (resize to the model's side), one thread,
p50 over repeated calls, for faces of 100/200/300 px. Beside it, the warp as it was before it read only each output
pixel's neighbours (the whole photo widened to int64 for every face), to show what that change bought; both give
the same bytes (asserted here, and by a hypothesis test in tests/data/test_framing.py).

Imports edge_age internals (edge_age.data.framing, edge_age.data.preprocess); smoke-tested by tests/lab.

    python lab/crop_cost.py --json lab/crop_cost.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import cv2
import numpy as np

from edge_age.data.framing import Square, _split, sample_side, warp_square
from edge_age.data.preprocess import PreprocessSpec, prepare_face


def warp_whole_photo(img: np.ndarray, square: Square, out: int) -> np.ndarray:
    h, w = img.shape[:2]
    t = ((np.arange(out, dtype=np.float64) + 0.5) / out - 0.5) * square.side
    a, b = t[None, :], t[:, None]
    x0, wx = _split(square.cx + a * square.cos - b * square.sin - 0.5)
    y0, wy = _split(square.cy + a * square.sin + b * square.cos - 0.5)
    xa, xb = np.clip(x0, 0, w - 1), np.clip(x0 + 1, 0, w - 1)
    ya, yb = np.clip(y0, 0, h - 1), np.clip(y0 + 1, 0, h - 1)
    src = img.astype(np.int64)
    wx, wy = wx[..., None], wy[..., None]
    top = src[ya, xa] * (256 - wx) + src[ya, xb] * wx
    bottom = src[yb, xa] * (256 - wx) + src[yb, xb] * wx
    return ((top * (256 - wy) + bottom * wy + 32768) >> 16).astype(np.uint8)


def p50_ms(f, n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return 1000 * float(np.median(times))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=int, default=64, help="the model's input side (default: the reference's 64)")
    ap.add_argument("--runs", type=int, default=60, help="timed calls per row")
    ap.add_argument("--json", type=Path, default=None, help="write the rows as JSON")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    img = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    spec = PreprocessSpec(size=args.size)
    rows = []
    for face in (100, 200, 300):
        sq = Square(320, 240, face, math.cos(0.2), math.sin(0.2))
        out = sample_side(sq, args.size)
        assert np.array_equal(warp_square(img, sq, out), warp_whole_photo(img, sq, out))
        rows.append({"face_px": face, "sample_px": out,
                     "whole_photo_ms": round(p50_ms(lambda: prepare_face(warp_whole_photo(img, sq, out), spec), args.runs), 3),
                     "now_ms": round(p50_ms(lambda: prepare_face(warp_square(img, sq, out), spec), args.runs), 3)})
        print(f"face {face} px (sample {out}): warp + prepare_face p50 {rows[-1]['whole_photo_ms']:.2f} ms before, "
              f"{rows[-1]['now_ms']:.2f} ms now")
    if args.json:
        args.json.write_text(json.dumps({"command": "python lab/crop_cost.py", "rows": rows}, indent=2) + "\n")


if __name__ == "__main__":
    main()
