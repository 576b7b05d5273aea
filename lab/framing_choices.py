"""One model, one set of detections, several framings: what each framing choice costs on the photo path.

    python lab/framing_choices.py runs/wild_test export/mobilenetv2_age/mobilenetv2_age_int8.tflite \
        --fit lab/framing_fit.json --json lab/framing_choices.json

Detects every scene of an ``edge-age data wild`` folder once (the shipped detector), then crops each
found face with: the fitted framing (eye rule where eyes were found, else box rule), the box rule
alone (fitted the same way), the old hand-set margin (box grown by 0.4 per side, no rotation), and the
chip's true square (the upper bound a perfect detector and framing would reach), and scores the model
on each. Same faces in every row.

Lab script (lab/README.md). It imports edge_age internals (edge_age.data.faces, .framing, .preprocess, .wild,
runtime), so a rename there can break it: tests/lab/test_lab_smoke.py runs its --help.
"""

from __future__ import annotations

import argparse
import csv
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from edge_age.data.faces import detect_faces
from edge_age.data.framing import Framing, sample_side, warp_square
from edge_age.data.preprocess import crop_face, prepare_face
from edge_age.data.wild import LABELS, read_truth
from edge_age.runtime import load_predictor


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folder", type=Path)
    ap.add_argument("model", type=Path)
    ap.add_argument("--fit", type=Path, required=True, help="edge-age data framing output")
    ap.add_argument("--n", type=int, default=None, help="first N scenes (default: all)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    rows = list(csv.DictReader(open(args.folder / LABELS)))[: args.n]
    truth = read_truth(args.folder / LABELS)
    with ThreadPoolExecutor(2) as pool:
        dets = list(pool.map(lambda r: detect_faces(cv2.imread(str(args.folder / r["file_name"]))), rows))
    pred = load_predictor(args.model, threads=1)
    fit = json.loads(args.fit.read_text())
    framings = {"fitted (eyes where found, else box)": Framing.from_dict(fit["framing"]),
                "box rule alone (fitted)": Framing.from_dict(fit["box_only"]["framing"]),
                "hand-set margin 0.4 (before)": Framing.from_margin(0.4)}
    found = [i for i, d in enumerate(dets) if d]
    y = np.array([float(rows[i]["age"]) for i in found])
    result = {"folder": str(args.folder), "model": str(args.model), "scenes": len(rows), "found": len(found), "rows": []}

    def score(name: str, crops: list[np.ndarray]) -> None:
        faces = np.stack([prepare_face(c, pred.spec) for c in crops])
        p = np.concatenate([pred.predict(faces[i : i + 64]) for i in range(0, len(faces), 64)])
        e = p - y
        minors = y < 18
        result["rows"].append({"framing": name, "mae": float(np.abs(e).mean()), "bias": float(e.mean()),
                               "under18_tpr": float((p[minors] < 18).mean()),
                               "under18_fpr": float((p[~minors] < 18).mean())})

    for name, f in framings.items():
        crops = []
        for i in found:
            img = cv2.imread(str(args.folder / rows[i]["file_name"]))
            crops.append(crop_face(img, dets[i][0], replace(pred.spec, framing=f))[0])
        score(name, crops)
    crops = []
    for i in found:
        t = truth[rows[i]["file_name"]]
        crops.append(warp_square(cv2.imread(str(args.folder / rows[i]["file_name"])), t, sample_side(t, pred.spec.size, True)))
    score("the chip's true square (upper bound)", crops)
    print(f"{len(found)}/{len(rows)} scenes with a face found; model {args.model}\n")
    print("| framing | MAE | bias | under-18 TPR / FPR |\n|---|---:|---:|---:|")
    for r in result["rows"]:
        print(f"| {r['framing']} | {r['mae']:.3f} | {r['bias']:+.2f} | {r['under18_tpr']:.3f} / {r['under18_fpr']:.3f} |")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
