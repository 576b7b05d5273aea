"""BlazeFace's cascade, pass by pass: what each choice of passes finds and what it costs. For each cascade (each pass
tried only when the ones before it found nothing): faces found on a faces-in-context folder (a detection whose
centre lies within 0.3 face sides of the true centre), on aligned test chips, false faces on face-free images (the
folder's backgrounds made the way `data wild` makes them: another photo's tiles, shuffled and blurred), and the
p50 detection time per photo with a face and without one (one thread). The last row is BLAZEFACE_PASSES as it
was when this ran (all full-range; the product runs its last three passes on the short-range network since:
lab/blazeface_short_range.py); the turned passes and the halves are what a photo without a face pays for (issue 33 item 2).

Imports edge_age internals (edge_age.data.faces, edge_age.data.wild); smoke-tested by tests/lab.

    python lab/blazeface_cascade.py runs/wild_test --data ../shared/data/UTKFace.tar.gz --json lab/blazeface_cascade.json
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_age.data.dataset import DataConfig, split_samples
from edge_age.data.faces import MTCNN_PASSES, DetectConfig, Pass, detect_faces
from edge_age.data.preprocess import decode_image
from edge_age.data.wild import _background

CHOICES = {
    "upright": (Pass(),),
    "MTCNN's passes (upright, tight chip, +-12, +-25 degrees)": MTCNN_PASSES,
    "upright, halves": (Pass(), Pass(halves=True)),
    "upright, halves, tight chip": (Pass(), Pass(halves=True), Pass(pad=True)),
    "BLAZEFACE_PASSES (upright, halves, tight chip, +-25 degrees)": (Pass(), Pass(halves=True), Pass(pad=True),
                                                                     Pass(angle=-25.0), Pass(angle=25.0)),
}


def timed(images: list[np.ndarray], cfg: DetectConfig) -> tuple[list[list], float]:
    found, ms = [], []
    for img in images:
        t = time.perf_counter()
        found.append(detect_faces(img, cfg))
        ms.append(1000 * (time.perf_counter() - t))
    return found, float(np.median(ms))


@dataclass
class Sets:
    """What each cascade is scored on: scenes with their true face centres and sides, face-free images, chips."""
    scenes: list[np.ndarray]
    truth: list[tuple[float, float, float]]
    empty: list[np.ndarray]
    chips: list[np.ndarray]


def load_sets(scenes_dir: Path, data: Path | None, limit: int | None, n_empty: int) -> Sets:
    with open(scenes_dir / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))[:limit]
    scenes = [cv2.imread(str(scenes_dir / r["file_name"])) for r in rows]
    truth = [(float(r["face_cx"]), float(r["face_cy"]), float(r["face_side"])) for r in rows]
    rng = np.random.default_rng(0)
    empty = [_background(rng, img, 640, 480) for img in scenes[:n_empty]]
    chips = []
    if data:
        ls, samples = split_samples(DataConfig(str(data)), "test")
        picked = samples[:limit]
        chips = [decode_image(d, s.name) for s, (_, d) in zip(picked, ls.container.read_many([s.name for s in picked]))]
    return Sets(scenes, truth, empty, chips)


def score(name: str, passes: tuple[Pass, ...], sets: Sets) -> dict:
    """One cascade's row: found in context and on chips, false faces, p50 ms with a face and without one."""
    cfg = DetectConfig(detector="blazeface", passes=passes)
    found, ms_face = timed(sets.scenes, cfg)
    hit = sum(any(math.hypot(d.center[0] - cx, d.center[1] - cy) < 0.3 * side for d in f)
              for f, (cx, cy, side) in zip(found, sets.truth))
    false, ms_empty = timed(sets.empty, cfg)
    chip_found = sum(bool(detect_faces(c, cfg)) for c in sets.chips)
    row = {"cascade": name, "passes": [p.as_dict() for p in passes], "scenes": len(sets.scenes),
           "found_rate": round(hit / len(sets.scenes), 4), "chips": len(sets.chips),
           "chips_found_rate": round(chip_found / len(sets.chips), 4) if sets.chips else None,
           "empty": len(sets.empty), "false_rate": round(sum(bool(f) for f in false) / len(sets.empty), 4),
           "p50_ms_with_face": round(ms_face, 2), "p50_ms_without_face": round(ms_empty, 2)}
    print(f"{name}: found {row['found_rate']:.2%} in context, {row['chips_found_rate'] or 0:.2%} of chips; "
          f"false {row['false_rate']:.1%}; p50 {ms_face:.1f} ms with a face, {ms_empty:.1f} ms without", flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenes", type=Path, help="a `data wild` folder")
    ap.add_argument("--data", type=Path, default=None, help="the dataset whose test chips are scored too")
    ap.add_argument("--limit", type=int, default=None, help="first N scenes (and N chips)")
    ap.add_argument("--empty", type=int, default=300, help="face-free images")
    ap.add_argument("--mtcnn", action="store_true", help="also MTCNN's false faces on the face-free images")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    sets = load_sets(args.scenes, args.data, args.limit, args.empty)
    out = [score(name, passes, sets) for name, passes in CHOICES.items()]
    mtcnn = None
    if args.mtcnn:
        false = sum(bool(detect_faces(img, DetectConfig(detector="mtcnn"))) for img in sets.empty)
        mtcnn = {"empty": len(sets.empty), "false_rate": round(false / len(sets.empty), 4)}
        print(f"MTCNN (its own passes): false {mtcnn['false_rate']:.1%} of the same face-free images")
    if args.json:
        cmd = (f"python lab/blazeface_cascade.py {args.scenes}" + (f" --data {args.data}" if args.data else "")
               + (" --mtcnn" if args.mtcnn else ""))
        args.json.write_text(json.dumps({"command": cmd, "rows": out, "mtcnn_false": mtcnn}, indent=2) + "\n")


if __name__ == "__main__":
    main()
