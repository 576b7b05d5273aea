"""``edge-age predict``: ages for image files, with any model file. Imports no torch.

Each image is a face crop (the whole image, centre-squared) or, with ``--detect-faces``, a photo in
which every face is found and cropped with the training margin. Bad files are reported, counted and
skipped; the exit code is non-zero only when no image could be processed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_age import fileio
from edge_age.data.faces import Box, crop_face, detect_faces
from edge_age.data.preprocess import decode_image, prepare_face
from edge_age.errors import EdgeAgeError
from edge_age.runtime import load_predictor

REFERENCE_GLOB = "export/*/*_int8.tflite"


def default_model() -> Path:
    """The reference int8 TFLite file (formats.REFERENCE_MODEL), else the first one under export/."""
    from edge_age.formats import reference_file

    if reference_file().is_file():
        return reference_file()
    found = sorted(Path(".").glob(REFERENCE_GLOB))
    if not found:
        raise EdgeAgeError(f"no --model given and no reference model matches {REFERENCE_GLOB}")
    return found[0]


def faces_in(img: np.ndarray, detect: bool, margin: float) -> tuple[list[Box], list[np.ndarray]]:
    if not detect:
        h, w = img.shape[:2]
        s = min(h, w)
        return [Box((w - s) // 2, (h - s) // 2, s, s)], [img]
    boxes = detect_faces(img)
    return boxes, [crop_face(img, b, margin) for b in boxes]


def annotate(img: np.ndarray, boxes: list[Box], ages: list[float]) -> np.ndarray:
    out = img.copy()
    thick = max(1, round(max(img.shape[:2]) / 300))
    for b, a in zip(boxes, ages):
        cv2.rectangle(out, (b.x, b.y), (b.x + b.w, b.y + b.h), (0, 200, 0), thick)
        cv2.putText(out, f"{a:.0f}", (b.x, max(12, b.y - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * thick, (0, 200, 0), thick)
    return out


def predict_command(args: argparse.Namespace) -> int:
    model = args.model or default_model()
    predictor = load_predictor(model, threads=args.threads)
    results: list[dict[str, Any]] = []
    failed = 0
    for path in args.images:
        try:
            if not path.is_file():
                raise EdgeAgeError("no such image file", path)
            img = decode_image(path.read_bytes(), str(path))
            boxes, crops = faces_in(img, args.detect_faces, predictor.spec.face_margin)
            if not boxes:
                raise EdgeAgeError("no face found", path)
            ages = [float(a) for a in predictor.predict(np.stack([prepare_face(c, predictor.spec) for c in crops]))]
        except EdgeAgeError as e:
            failed += 1
            print(f"edge-age: skipped {e}", file=sys.stderr)
            results.append({"file": str(path), "error": e.reason})
            continue
        for b, a in zip(boxes, ages):
            print(f"{path}\t{b.x},{b.y},{b.w},{b.h}\t{a:.1f}")
            results.append({"file": str(path), "box": b.as_list(), "age": round(a, 2)})
        if args.annotate:
            ok, buf = cv2.imencode(".jpg", annotate(img, boxes, ages))
            if ok:
                fileio.write_bytes(Path(args.annotate) / f"{path.stem}_age.jpg", buf.tobytes())
    n_faces = sum(1 for r in results if "age" in r)
    print(f"{len(args.images)} image(s), {n_faces} face(s), {failed} skipped  [{predictor.name}, {predictor.runtime}]",
          file=sys.stderr)
    if args.json:
        fileio.write_json(args.json, {"model": str(model), "runtime": predictor.runtime, "results": results})
    return 0 if failed < len(args.images) else 2
