"""Photo degradations users meet (grey, sepia, low resolution, heavy JPEG, grain, a dark exposure, motion blur),
written with OpenCV/numpy on whole BGR photos: what ``benchmarks/robustness.py`` measures models under, what
``eval --degrade`` reports on and what ``calibrate --degrade`` fits intervals on (``edge_age.eval.degraded``). (``train --degrade`` has its own torch versions, applied to
training crops.) Imports no torch.
"""

from __future__ import annotations

from typing import Callable, Sequence, TypeVar

import cv2
import numpy as np


T = TypeVar("T")
Degrade = Callable[[np.ndarray, np.random.Generator], np.ndarray]  # BGR uint8 HxWx3 -> the same


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _grey(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def _sepia(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)[..., None]
    return _u8(g * np.array([0.55, 0.85, 1.1], np.float32))  # warm tint (B, G, R)


def _lowres(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, w // 3), max(1, h // 3)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _jpeg(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 15])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def _grain(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _u8(img + rng.normal(0, 8, img.shape))


def _dark(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _u8(255 * (img / 255.0) ** 1.8)


def _motion(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    side = max(3, round(min(img.shape[:2]) / 40))  # 5% of a face that fills half the frame
    return cv2.filter2D(img, -1, np.full((1, side), 1.0 / side, np.float32))


# name -> (function, a kind `train --degrade` trains with?); None: the photo as it is
DEGRADATIONS: dict[str, tuple[Degrade | None, bool | None]] = {
    "none": (None, None),
    "grey": (_grey, True),
    "sepia (not trained)": (_sepia, False),
    "low resolution 1/3": (_lowres, True),
    "JPEG quality 15": (_jpeg, True),
    "grain sigma 8": (_grain, True),
    "dark (gamma 1.8)": (_dark, True),
    "motion blur (not trained)": (_motion, False),
}


def spread_rows(rows: Sequence[T], limit: int) -> list[T]:
    """``limit`` of ``rows`` spread evenly over them (a labels.csv in name order groups UTKFace faces by age)."""
    return [rows[i] for i in sorted(set(np.linspace(0, len(rows) - 1, min(limit, len(rows))).round().astype(int)))]
