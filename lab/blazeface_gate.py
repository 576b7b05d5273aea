"""Can a photo without a face skip BlazeFace's fallback passes? (issue 33: <= 15 ms without a face.) The idea: run
the halves, tight-chip and turned passes only when the upright pass saw something face-like, its best anchor
scoring above a hint threshold below the detection one (0.5). This measures the upright pass's best score on the
faces-in-context scenes it misses (those the fallbacks exist for) and on face-free images made as
lab/blazeface_cascade.py makes them: if the two overlap, no hint threshold keeps the recall and the saving.

    python lab/blazeface_gate.py runs/wild_test --json lab/blazeface_gate.json
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import cv2
import numpy as np

from edge_age.data import blazeface
from edge_age.data.faces import DetectConfig, _found, views
from edge_age.data.wild import _background

HINTS = (0.05, 0.1, 0.2, 0.3, 0.4)


def upright(img: np.ndarray, cfg: DetectConfig) -> tuple[float, bool]:
    """The upright pass's best anchor score (a sigmoid) and whether that pass finds a face."""
    ps, vs = next(views(img, cfg))
    tensor, _ = blazeface.letterbox(vs[0].image)
    _, logits = blazeface.run(tensor)
    return float(1 / (1 + np.exp(-np.max(logits)))), bool(_found(vs[0], ps, cfg))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenes", type=Path, help="a `data wild` folder")
    ap.add_argument("--empty", type=int, default=300, help="face-free images")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    cfg = DetectConfig(detector="blazeface")
    with open(args.scenes / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    scenes = [upright(cv2.imread(str(args.scenes / r["file_name"])), cfg) for r in rows]
    missed = np.array([s for s, found in scenes if not found])
    rng = np.random.default_rng(0)
    empty = np.array([upright(_background(rng, cv2.imread(str(args.scenes / r["file_name"])), 640, 480), cfg)[0]
                      for r in rows[: args.empty]])
    table = [{"hint": h, "missed_scenes_kept": round(float((missed > h).mean()), 3),
              "recall_lost_points": round(100 * float((missed <= h).sum()) / len(scenes), 2),
              "empty_paying_every_pass": round(float((empty > h).mean()), 3)} for h in HINTS]
    for t in table:
        print(t)
    if args.json:
        args.json.write_text(json.dumps({"command": f"python lab/blazeface_gate.py {args.scenes} --json {args.json}",
                                         "scenes": len(scenes), "upright_missed": len(missed), "empty": len(empty),
                                         "rows": table}, indent=1) + "\n")


if __name__ == "__main__":
    main()
