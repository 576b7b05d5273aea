"""Write golden cases for the Kotlin core: source pixels, face box, card, and Python's int8 tensor.

The expected bytes come from ``edge_age.runtime.tflite.TFLitePredictor.input_tensor`` after
``prepare_face`` (and ``crop_face`` for boxed cases): exactly what the Python runtime feeds the model.
Real faces are read from the UTKFace archive at test time and written only to the output folder,
which is never committed.

    python android_demo/tools/make_golden.py --model export/simplecnn/simplecnn_int8.tflite \
        --data ../shared/data/UTKFace.tar.gz --out android_demo/build/golden
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import cv2
import numpy as np

from edge_age.data.faces import Box, crop_face
from edge_age.data.preprocess import decode_image, prepare_face
from edge_age.data.sources import load_labeled
from edge_age.data.split import stable_hash
from edge_age.formats import card_path
from edge_age.runtime.tflite import TFLitePredictor


def write_case(out: Path, k: int, what: str, img_bgr: np.ndarray, box: Box | None, pred: TFLitePredictor) -> None:
    crop = img_bgr if box is None else crop_face(img_bgr, box, pred.spec.face_margin)
    tensor = pred.input_tensor(prepare_face(crop, pred.spec))
    rgb = np.ascontiguousarray(cv2.cvtColor(img_bgr, cv2.COLOR_BGR2RGB))
    (out / f"case{k:02d}.rgb").write_bytes(rgb.tobytes())
    (out / f"case{k:02d}.int8").write_bytes(tensor.astype(np.int8).tobytes())
    (out / f"case{k:02d}.json").write_text(json.dumps({
        "what": what, "width": int(rgb.shape[1]), "height": int(rgb.shape[0]),
        "box": box.as_list() if box else None, "rgb": f"case{k:02d}.rgb", "tensor": f"case{k:02d}.int8"}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, type=Path, help="an int8 .tflite with its card beside it")
    ap.add_argument("--data", type=Path, default=None, help="real faces (UTKFace archive); synthetic cases only if absent")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--n-real", type=int, default=6)
    args = ap.parse_args()
    pred = TFLitePredictor(args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copy(card_path(args.model), args.out / "card.json")
    k = 0
    rng = np.random.default_rng(0)
    if args.data and args.data.exists():
        ls = load_labeled(args.data)
        pick = sorted(ls.samples, key=lambda s: stable_hash(7, s.name))[: args.n_real]
        for s, (_, data) in zip(pick, ls.container.read_many([p.name for p in pick])):
            img = decode_image(data, s.name)
            write_case(args.out, k, "real aligned face", img, None, pred)
            h, w = img.shape[:2]
            write_case(args.out, k + 1, "real face, box near the edge", img, Box(w // 3, h // 4, w // 2, h // 2 + 7), pred)
            k += 2
    for w, h, box in [(37, 53, None), (300, 200, None), (128, 128, None), (640, 480, Box(10, 300, 120, 150)),
                      (200, 200, Box(150, 5, 60, 61))]:
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        write_case(args.out, k, f"synthetic {w}x{h}", img, box, pred)
        k += 1
    print(f"wrote {k} golden cases to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
