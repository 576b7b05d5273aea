"""Face detection for raw photos (``--detect-faces``): largest face, square crop with margin.

OpenCV's Haar cascade ships inside opencv-python(-headless) 4.x, so this needs no download and no
torch. The margin matches the aligned UTKFace chips the models are trained on.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Box:
    x: int
    y: int
    w: int
    h: int

    def as_list(self) -> list[int]:
        return [self.x, self.y, self.w, self.h]


_per_thread = threading.local()


def _cascade() -> "cv2.CascadeClassifier":
    """One classifier per thread: ``detectMultiScale`` on a shared instance is not thread-safe.

    Found by the three-faces test: with the cache's thread pool sharing one classifier, a photo
    with no face came back with a "face" found (the results of another thread's image).
    """
    cascade = getattr(_per_thread, "cascade", None)
    if cascade is None:
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise RuntimeError(f"OpenCV Haar cascade missing at {path}; install opencv-python-headless<5")
        _per_thread.cascade = cascade
    return cascade


def detect_faces(img_bgr: np.ndarray, min_size: int = 24) -> list[Box]:
    """All faces found, largest first."""
    gray = cv2.cvtColor(img_bgr, cv2.COLOR_BGR2GRAY)
    # Work on a bounded size: the cascade is slow on 12 MP photos and gains nothing from them.
    scale = min(1.0, 1024.0 / max(gray.shape))
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
    small = cv2.equalizeHist(small)
    found = _cascade().detectMultiScale(small, scaleFactor=1.1, minNeighbors=5, minSize=(min_size, min_size))
    boxes = [Box(int(x / scale), int(y / scale), int(w / scale), int(h / scale)) for (x, y, w, h) in found]
    return sorted(boxes, key=lambda b: b.w * b.h, reverse=True)


def crop_face(img_bgr: np.ndarray, box: Box, margin: float) -> np.ndarray:
    """Square crop centred on ``box``, grown by ``margin`` x side on each side; edges replicated."""
    side = int(round(max(box.w, box.h) * (1 + 2 * margin)))
    cx, cy = box.x + box.w / 2, box.y + box.h / 2
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    h, w = img_bgr.shape[:2]
    pad = max(0, -x0, -y0, x0 + side - w, y0 + side - h)
    if pad:
        img_bgr = cv2.copyMakeBorder(img_bgr, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x0, y0 = x0 + pad, y0 + pad
    return img_bgr[y0 : y0 + side, x0 : x0 + side]
