"""Photo degradations users meet (grey, sepia, low resolution, heavy JPEG, grain, a dark exposure, motion blur),
written with OpenCV/numpy on whole BGR photos: what ``benchmarks/robustness.py`` measures models under and what
``edge-age calibrate --degrade`` fits intervals on. (``train --degrade`` has its own torch versions, applied to
training crops.) Imports no torch.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from edge_age.errors import EdgeAgeError

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


def degraded_copies(rows: list[dict[str, str]], folder: Path, root: Path) -> dict[str, Path]:
    """Each degradation's copy of the labeled photos ``rows`` (``file_name`` relative to ``folder``, ``age``) and
    their labels.csv under ``root``: name -> that labels.csv. PNG: no second compression on top of a degradation;
    each photo's noise is seeded by the degradation and its place in ``rows`` (the same copies every run)."""
    made = {}
    for k, (name, (fn, _)) in enumerate(DEGRADATIONS.items()):
        out = root / f"d{k}"
        out.mkdir(parents=True, exist_ok=True)
        names = []
        for i, row in enumerate(rows):
            img = cv2.imread(str(folder / row["file_name"]), cv2.IMREAD_COLOR)
            if img is None:
                raise EdgeAgeError("cannot read this photo", folder / row["file_name"])
            if fn is not None:
                img = fn(img, np.random.default_rng([k, i]))
            target = out / f"{i:06d}.png"
            if not cv2.imwrite(str(target), img, [cv2.IMWRITE_PNG_COMPRESSION, 3]):
                raise EdgeAgeError("cannot write the degraded photo", target)
            names.append((target.name, row["age"]))
        with open(out / "labels.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["file_name", "age"])
            w.writerows(names)
        made[name] = out / "labels.csv"
    return made


def spread_rows(rows: list[dict[str, str]], limit: int) -> list[dict[str, str]]:
    """``limit`` rows spread evenly over the list (a labels.csv in name order groups UTKFace faces by age)."""
    return [rows[i] for i in sorted(set(np.linspace(0, len(rows) - 1, min(limit, len(rows))).round().astype(int)))]
