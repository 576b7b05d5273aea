"""Two detectors on the user's path with the same int8 reference file: faces found and MAE on faces in context,
and what detect + frame + crop costs per 640x480 photo with faces and without one (one thread, p50).

Each detector gets its own fitted framing (`edge-age data framing --detector NAME --out DIR`); the reference
file is scored through a copy of its folder whose card carries that framing (the weights are the same: a
framing maps a detector's boxes and eyes to the training chips' square). Imports edge_age internals
(edge_age.eval, edge_age.data.faces, edge_age.data.framing_fit); smoke-tested by tests/lab.

    edge-age data wild --data ../shared/data/UTKFace.tar.gz --split test --out runs/wild_test
    edge-age data framing --data ../shared/data/UTKFace.tar.gz --limit 2500 --detector blazeface --out runs/framing_blazeface
    python lab/detector_compare.py --scenes runs/wild_test --fit mtcnn=mtcnn --fit blazeface=runs/framing_blazeface \\
        --json lab/detector_compare.json
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from edge_age.data.faces import DetectConfig, detect_faces
from edge_age.data.framing_fit import load_fit
from edge_age.data.preprocess import PreprocessSpec, crop_face, prepare_face
from edge_age.eval.config import EvalConfig
from edge_age.eval.evaluate import evaluate
from edge_age.formats import bundled_reference


def framed_copy(model: Path, fit: str, out: Path) -> Path:
    """The model's folder copied to ``out`` with the card's framing replaced by ``fit``'s."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(model.parent, out)
    card_file = next(p for p in out.glob("*.json") if "files" in json.loads(p.read_text()))
    card = json.loads(card_file.read_text())
    card["preprocess"]["framing"] = load_fit(fit)[0].to_dict()
    card_file.write_text(json.dumps(card, indent=2) + "\n")
    return out / model.name


def path_cost(images: list[np.ndarray], detector: str, framing, runs: int) -> float:
    """p50 ms of detect + frame + crop + resize over the images (each timed ``runs`` times)."""
    spec = PreprocessSpec(size=64)
    times = []
    for img in images:
        for _ in range(runs):
            t = time.perf_counter()
            for d in detect_faces(img, DetectConfig(detector=detector)):
                prepare_face(crop_face(img, d, replace(spec, framing=framing))[0], spec)
            times.append(time.perf_counter() - t)
    return round(1000 * float(np.median(times)), 2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenes", type=Path, required=True, help="a `data wild` folder (faces in context, test split)")
    ap.add_argument("--fit", action="append", required=True, metavar="DETECTOR=FIT",
                    help="a detector and its framing fit (a `data framing` folder, or mtcnn for the bundled fit)")
    ap.add_argument("--model", type=Path, default=bundled_reference(), help="default: the bundled int8 reference")
    ap.add_argument("--timed", type=int, default=60, help="scenes timed per detector (and 20 face-free photos)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    cv2.setNumThreads(1)
    names = [r["file_name"] for r in csv.DictReader(open(args.scenes / "labels.csv"))][: args.timed]
    scenes = [cv2.imread(str(args.scenes / n)) for n in names]
    rng = np.random.default_rng(0)
    empty = [cv2.GaussianBlur(rng.integers(40, 220, (480, 640, 3), dtype=np.uint8), (0, 0), 6) for _ in range(20)]
    rows = []
    for item in args.fit:
        detector, fit = item.split("=", 1)
        framing = load_fit(fit)[0]
        copy = framed_copy(args.model, fit, Path("runs") / "detector_compare" / detector)
        result = evaluate(EvalConfig(model=str(copy), data=str(args.scenes / "labels.csv"), split="all",
                                     detect_faces=True, threads=1, out=f"runs/eval/detector_compare_{detector}"),
                          progress=False, log=lambda line: None)
        m, total = result["metrics"], m_total(args.scenes)
        rows.append({"detector": detector, "fit": fit, "found": m["n"], "scenes": total,
                     "found_rate": round(m["n"] / total, 4), "mae": round(m["mae"], 3),
                     "with_face_ms": path_cost(scenes, detector, framing, 3),
                     "without_face_ms": path_cost(empty, detector, framing, 2)})
        print(rows[-1])
    if args.json:
        args.json.write_text(json.dumps({"model": str(args.model), "scenes": str(args.scenes), "rows": rows,
                                         "command": "python lab/detector_compare.py " + " ".join(
                                             f"--fit {f}" for f in args.fit)}, indent=2) + "\n")


def m_total(scenes: Path) -> int:
    with open(scenes / "labels.csv") as f:
        return sum(1 for _ in csv.DictReader(f))


if __name__ == "__main__":
    main()
