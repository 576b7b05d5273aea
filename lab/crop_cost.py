"""What one face crop costs before the model, on a 640x480 photo, one thread, p50 over repeated calls, for faces of
100/200/300 px: the crop as it is now (the framed square sampled straight at the model's side, then `prepare_face`,
which has nothing left to resize) beside the crop as it was until issue 33 (the square sampled at about one pixel
per source pixel, at most 4x the model's side, then resized to the model's side by `prepare_face`).

Imports edge_age internals (edge_age.data.framing, edge_age.data.preprocess); smoke-tested by tests/lab.

    python lab/crop_cost.py --scenes runs/wild_test --json lab/crop_cost.json
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import cv2
import numpy as np

from edge_age.data.framing import Square, sample_side, warp_square
from edge_age.data.preprocess import PreprocessSpec, prepare_face


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
    ap.add_argument("--runs", type=int, default=200, help="timed calls per row")
    ap.add_argument("--json", type=Path, default=None, help="write the rows as JSON")
    ap.add_argument("--scenes", type=Path, default=None,
                    help="a `data wild` folder: also the shipped reference's MAE on it with either crop")
    args = ap.parse_args()
    cv2.setNumThreads(1)
    img = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    spec = PreprocessSpec(size=args.size)
    rows = []
    for face in (100, 200, 300):
        sq = Square(320, 240, face, math.cos(0.2), math.sin(0.2))
        before = sample_side(sq, args.size, direct=False)
        rows.append({"face_px": face, "before_sample_px": before,
                     "before_ms": round(p50_ms(lambda: prepare_face(warp_square(img, sq, before), spec), args.runs), 3),
                     "now_ms": round(p50_ms(lambda: prepare_face(warp_square(img, sq, args.size), spec), args.runs), 3),
                     "now_crop_only_ms": round(p50_ms(lambda: warp_square(img, sq, args.size), args.runs), 3)})
        r = rows[-1]
        print(f"face {face} px: crop + prepare_face p50 {r['before_ms']:.3f} ms before (sample {before} px), "
              f"{r['now_ms']:.3f} ms now ({r['now_crop_only_ms']:.3f} ms the crop alone)")
    accuracy = mae_either_way(args.scenes) if args.scenes else None
    if args.json:
        cmd = "python lab/crop_cost.py" + (f" --scenes {args.scenes}" if args.scenes else "") + f" --json {args.json}"
        args.json.write_text(json.dumps({"command": cmd, "rows": rows, "accuracy": accuracy}, indent=2) + "\n")


def mae_either_way(scenes: Path) -> dict:
    """The bundled int8 reference on each scene's first face (found by its card's detector), cropped both ways."""
    import csv

    from edge_age.data.faces import DetectConfig, detect_faces
    from edge_age.data.framing import frame
    from edge_age.formats import bundled_reference
    from edge_age.runtime.tflite import TFLitePredictor

    pred = TFLitePredictor(bundled_reference())
    spec = pred.spec
    with open(scenes / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    crops: dict[str, list[np.ndarray]] = {"before": [], "now": []}
    ages = []
    for r in rows:
        img = cv2.imread(str(scenes / r["file_name"]))
        found = detect_faces(img, DetectConfig.for_framing(spec.framing))
        if not found:
            continue
        sq = frame(found[0], spec.framing)
        before = sample_side(sq, spec.size, direct=False)
        crops["before"].append(prepare_face(warp_square(img, sq, before), spec))
        crops["now"].append(prepare_face(warp_square(img, sq, spec.size), spec))
        ages.append(float(r["age"]))
    est = {k: np.concatenate([pred.predict(np.stack(v[i:i + 256])) for i in range(0, len(v), 256)])
           for k, v in crops.items()}
    out = {"scenes": len(rows), "found": len(ages), "model": str(bundled_reference()),
           **{f"mae_{k}": round(float(np.abs(e - np.array(ages)).mean()), 3) for k, e in est.items()},
           "mean_abs_change": round(float(np.abs(est["now"] - est["before"]).mean()), 3),
           "mean_change": round(float((est["now"] - est["before"]).mean()), 3)}
    print(f"MAE on {out['found']}/{out['scenes']} faces in context: {out['mae_before']:.3f} before, {out['mae_now']:.3f} now")
    return out


if __name__ == "__main__":
    main()
