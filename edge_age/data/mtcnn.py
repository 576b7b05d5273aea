"""MTCNN (Zhang et al. 2016): a face detector that also finds the eyes, nose and mouth corners.

The three small networks ship with the package as ONNX (``edge_age/detector``, 2 MB; converted by
``scripts/convert_mtcnn.py`` from the weights inside the facenet-pytorch wheel, MIT licence) and run on
ONNX Runtime, so detection needs no torch and no download. The cascade is the published one: P-Net
proposes boxes over an image pyramid, R-Net and O-Net re-score and refine them on 24 and 48 px crops,
and O-Net's landmarks give the eye centres the framing's eye rule levels. Crops that reach past the
image are zero-padded (not squeezed), so a face that fills a tight chip keeps its shape.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge_age.errors import EdgeAgeError

MODEL_DIR = Path(__file__).resolve().parent.parent / "detector"


@dataclass(frozen=True)
class MtcnnConfig:
    min_face: int = 24  # smallest face side searched for, in pixels of the image given
    thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7)  # P-, R-, O-Net face scores to keep a box
    factor: float = 0.709  # pyramid step (the published value: half the area per two levels)


@functools.lru_cache(maxsize=None)
def _session(name: str) -> "object":
    """One ONNX Runtime session per network and process (``run`` is thread-safe), on one thread: callers
    parallelise over photos, not inside a 12 px network."""
    import onnxruntime as ort

    path = MODEL_DIR / f"mtcnn_{name}.onnx"
    if not path.is_file():
        raise EdgeAgeError("MTCNN face detector file missing; reinstall edge-age", path)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def _run(name: str, x: np.ndarray) -> list[np.ndarray]:
    return _session(name).run(None, {"x": x})


def _normalise(rgb: np.ndarray) -> np.ndarray:
    """HWC or NHWC uint8 RGB -> NCHW float32 in [-1, 1) as MTCNN was trained."""
    x = (rgb.astype(np.float32) - 127.5) * 0.0078125
    return x.transpose(2, 0, 1)[None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, by_min: bool = False) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best first; overlap is IoU, or intersection over
    the smaller box (``by_min``, O-Net's final pass: a box inside a larger face is dropped)."""
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    area = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        denom = np.minimum(area[i], area[rest]) if by_min else area[i] + area[rest] - inter
        order = rest[inter <= threshold * np.maximum(denom, 1e-9)]
    return np.asarray(keep, dtype=np.int64)


def _square(boxes: np.ndarray) -> np.ndarray:
    """Each box grown to a square about its centre (R-/O-Net take square crops)."""
    out = boxes.copy()
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    side = np.maximum(w, h)
    out[:, 0] = boxes[:, 0] + (w - side) / 2
    out[:, 1] = boxes[:, 1] + (h - side) / 2
    out[:, 2], out[:, 3] = out[:, 0] + side, out[:, 1] + side
    return out


def _refine(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Apply the networks' box regression (offsets as fractions of the box's width and height)."""
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    out = boxes.copy()
    out[:, :4] = boxes[:, :4] + reg[:, :4] * np.stack([w, h, w, h], axis=1)
    return out


def _crops(rgb: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """size x size crops of the (square) boxes, zero where a box reaches past the image."""
    h, w = rgb.shape[:2]
    out = np.zeros((len(boxes), size, size, 3), np.uint8)
    for k, (x1, y1, x2, y2) in enumerate(np.round(boxes[:, :4]).astype(np.int64)):
        bw, bh = max(int(x2 - x1), 1), max(int(y2 - y1), 1)
        canvas = np.zeros((bh, bw, 3), np.uint8)
        sx1, sy1, sx2, sy2 = max(x1, 0), max(y1, 0), min(x2, w), min(y2, h)
        if sx2 > sx1 and sy2 > sy1:
            canvas[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = rgb[sy1:sy2, sx1:sx2]
        out[k] = cv2.resize(canvas, (size, size), interpolation=cv2.INTER_AREA)
    return out


def _proposals(rgb: np.ndarray, cfg: MtcnnConfig) -> np.ndarray:
    """P-Net over the pyramid: N x 5 boxes (x1, y1, x2, y2, score) in image pixels."""
    h, w = rgb.shape[:2]
    scale = 12.0 / cfg.min_face
    found = []
    while min(h, w) * scale >= 12:
        sw, sh = int(np.ceil(w * scale)), int(np.ceil(h * scale))
        reg, prob = _run("pnet", _normalise(cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)))
        ys, xs = np.nonzero(prob[0, 1] >= cfg.thresholds[0])
        if ys.size:
            # Each output cell sees a 12 x 12 window at stride 2 of the scaled image.
            cells = np.stack([2 * xs, 2 * ys, 2 * xs + 12, 2 * ys + 12], axis=1) / scale
            b = np.concatenate([cells, prob[0, 1, ys, xs][:, None]], axis=1)
            b = _refine(b, reg[0][:, ys, xs].T)
            found.append(b[nms(b[:, :4], b[:, 4], 0.5)])
        scale *= cfg.factor
    if not found:
        return np.zeros((0, 5), np.float64)
    b = np.concatenate(found)
    return _square(b[nms(b[:, :4], b[:, 4], 0.7)])


def detect(rgb: np.ndarray, cfg: MtcnnConfig = MtcnnConfig()) -> tuple[np.ndarray, np.ndarray]:
    """Faces in an RGB uint8 image: N x 5 boxes (x1, y1, x2, y2, score) and N x 5 x 2 landmarks
    (image-left eye, image-right eye, nose, mouth left, mouth right; x, y in pixels), best first."""
    none = np.zeros((0, 5)), np.zeros((0, 5, 2))
    boxes = _proposals(rgb, cfg)
    if not len(boxes):
        return none
    reg, prob = _run("rnet", _normalise(_crops(rgb, boxes, 24)))
    keep = prob[:, 1] >= cfg.thresholds[1]
    boxes = np.concatenate([boxes[keep, :4], prob[keep, 1:2]], axis=1)
    if not len(boxes):
        return none
    pick = nms(boxes[:, :4], boxes[:, 4], 0.7)
    boxes = _square(_refine(boxes[pick], reg[keep][pick]))
    reg, marks, prob = _run("onet", _normalise(_crops(rgb, boxes, 48)))
    keep = prob[:, 1] >= cfg.thresholds[2]
    boxes, reg, marks = np.concatenate([boxes[keep, :4], prob[keep, 1:2]], axis=1), reg[keep], marks[keep]
    if not len(boxes):
        return none
    side = (boxes[:, 2] - boxes[:, 0])[:, None]
    points = np.stack([boxes[:, :1] + marks[:, :5] * side, boxes[:, 1:2] + marks[:, 5:] * side], axis=2)
    boxes = _refine(boxes, reg)
    pick = nms(boxes[:, :4], boxes[:, 4], 0.7, by_min=True)
    return boxes[pick], points[pick]
