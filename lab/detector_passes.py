"""What each detection pass adds on faces in context: found (the face itself), and false boxes.

    python lab/detector_passes.py runs/wild_test --n 400 --json lab/detector_passes.json

Each pass of ``edge_age.data.faces.DEFAULT_PASSES`` is run alone on the first N scenes of a
``edge-age data wild`` folder; a scene counts as found by a pass when its largest box near the chip's
centre frames the chip to within 25% of its side (``framing_fit.match`` and the default framing), and as
a false box when the pass returns boxes but none that does. The cumulative column is the detector as
shipped: passes in order, each only where the earlier ones found nothing.

Lab script (lab/README.md). It imports edge_age internals (edge_age.data.faces, .framing, .framing_fit,
.wild), so a rename there can break it: tests/lab/test_lab_smoke.py runs its --help.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from dataclasses import asdict, replace
from pathlib import Path

import cv2

from edge_age.data.faces import DEFAULT_PASSES, DetectConfig, detect_faces
from edge_age.data.framing import Framing, frame
from edge_age.data.framing_fit import match
from edge_age.data.wild import LABELS, read_truth


def good(det, truth) -> bool:
    sq = frame(det, Framing())
    return abs(sq.side / truth.side - 1) < 0.25 and math.hypot(sq.cx - truth.cx, sq.cy - truth.cy) < 0.25 * truth.side


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path)
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    truth = read_truth(args.folder / LABELS)
    names = [r["file_name"] for r in csv.DictReader(open(args.folder / LABELS))][: args.n]
    per_pass = [{"found": 0, "false": 0} for _ in DEFAULT_PASSES]
    done = [False] * len(names)
    rows = []
    for i, name in enumerate(names):
        img, t = cv2.imread(str(args.folder / name)), truth[name]
        shipped = None
        for k, ps in enumerate(DEFAULT_PASSES):
            dets = detect_faces(img, replace(DetectConfig(), passes=(ps,)))
            m = match(t, dets)
            ok = bool(m is not None and good(m, t))
            per_pass[k]["found"] += int(ok)
            per_pass[k]["false"] += int(bool(dets) and not ok)
            if shipped is None and dets:
                shipped = ok
        done[i] = bool(shipped)
    for k, ps in enumerate(DEFAULT_PASSES):
        rows.append({"pass": asdict(ps), **per_pass[k], "scenes": len(names)})
    result = {"folder": str(args.folder), "scenes": len(names), "passes": rows,
              "shipped_found_and_framed": sum(done)}
    print("| pass | found | false boxes |\n|---|---:|---:|")
    for r in rows:
        p = r["pass"]
        what = (f"{'padded, ' if p['pad'] else ''}{'turned %+g, ' % p['angle'] if p['angle'] else ''}"
                f"{'equalised' if p['equalize'] else 'raw'}, minNeighbors {p['neighbors']}"
                f"{', eye pair required' if p['need_eyes'] else ''}")
        print(f"| {what} | {r['found']}/{r['scenes']} | {r['false']} |")
    print(f"\nshipped detector (passes in order): {sum(done)}/{len(names)} found and framed within 25%")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
