"""How much each fallback pass adds when BlazeFace is the detector: faces found on a faces-in-context folder with
the first 1, 2, 4 and all 6 passes of the MTCNN pass list (upright; the tight chip on an extended canvas; the photo
turned by +-12 degrees; by +-25), and the mean detection time per scene. The turned passes are what a photo
without a face pays for, so this is the measurement behind a bounded no-face cost (issue 33 item 2).

Imports edge_age internals (edge_age.data.faces); smoke-tested by tests/lab.

    python lab/blazeface_passes.py runs/wild_test --json lab/blazeface_passes.json
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from pathlib import Path

import cv2

from edge_age.data.faces import MTCNN_PASSES, DetectConfig, detect_faces


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenes", type=Path, help="a `data wild` folder")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    with open(args.scenes / "labels.csv", newline="") as f:
        images = [cv2.imread(str(args.scenes / r["file_name"])) for r in csv.DictReader(f)]
    rows = []
    for k in (1, 2, 4, len(MTCNN_PASSES)):
        cfg = DetectConfig(detector="blazeface", passes=MTCNN_PASSES[:k])
        t = time.perf_counter()
        found = sum(1 for img in images if detect_faces(img, cfg))
        ms = 1000 * (time.perf_counter() - t) / len(images)
        rows.append({"passes": [{"pad": p.pad, "angle": p.angle} for p in MTCNN_PASSES[:k]], "found": found,
                     "scenes": len(images), "found_rate": round(found / len(images), 4), "ms_per_scene": round(ms, 2)})
        print(f"{k} pass(es): found {found}/{len(images)} ({found / len(images):.1%}), {ms:.1f} ms a scene")
    if args.json:
        args.json.write_text(json.dumps({"command": f"python lab/blazeface_passes.py {args.scenes}", "rows": rows},
                                        indent=2) + "\n")


if __name__ == "__main__":
    main()
