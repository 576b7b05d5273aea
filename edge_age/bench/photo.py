"""The cost of the photo path before the model: detect -> frame -> crop -> resize, per 640x480 photo, with each
card's own detector, framing and crop.

Measured on scenes made from the bench's data split (:mod:`edge_age.data.wild`), so the faces are
real; and on the same scenes blurred until no face survives, where every detection pass runs and finds
nothing (the worst case). The bench adds each file's model time to these for its photo -> age columns.
"""

from __future__ import annotations

import time
from typing import Any

import cv2
import numpy as np

from edge_age.errors import EdgeAgeError
from edge_age.data.faces import DetectConfig, detect_faces
from edge_age.data.preprocess import PreprocessSpec, crop_face, prepare_face


def _ms(fn, images: list[np.ndarray]) -> tuple[np.ndarray, list[Any]]:
    """Milliseconds of ``fn`` on each image, and what it returned."""
    ms, returned = [], []
    for img in images:
        t0 = time.perf_counter()
        returned.append(fn(img))
        ms.append((time.perf_counter() - t0) * 1e3)
    return np.asarray(ms), returned


def photos(data: str, split: str, n: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``n`` photos with a face (the split's faces placed in 640x480 scenes) and a third as many without one (the
    same scenes blurred until no face survives)."""
    from edge_age.data.dataset import DataConfig, split_samples
    from edge_age.data.wild import WildConfig, iter_scenes

    ls, samples = split_samples(DataConfig(data), split)
    faces = [sc.image for _, sc in iter_scenes(ls, samples[:n], WildConfig(seed=0))]
    if not faces:
        raise EdgeAgeError(f"no photo for the photo path could be made: none of the first {min(n, len(samples))} "
                           f"{split} images could be read", data)
    return faces, [cv2.GaussianBlur(img, (0, 0), 25) for img in faces[: max(3, n // 3)]]


def photo_path_cost(faces: list[np.ndarray], empty: list[np.ndarray], threads: int, spec: PreprocessSpec
                    ) -> dict[str, Any]:
    """Median and 90th-percentile milliseconds per photo with ``threads`` OpenCV threads, with the card's detector,
    framing and crop."""

    def one(img: np.ndarray) -> int:
        found = detect_faces(img, DetectConfig.for_framing(spec.framing))
        for d in found:
            prepare_face(crop_face(img, d, spec)[0], spec)
        return len(found)

    before = cv2.getNumThreads()
    cv2.setNumThreads(threads)
    try:
        one(faces[0])  # warm-up: loads the cascades
        (with_face, counts), (without, _) = _ms(one, faces), _ms(one, empty)
    finally:
        cv2.setNumThreads(before)
    return {"detector": spec.framing.detector, "photos": len(faces), "found": sum(c > 0 for c in counts),
            "p50_ms": float(np.median(with_face)), "p90_ms": float(np.percentile(with_face, 90)),
            "no_face_p50_ms": float(np.median(without)), "no_face_p90_ms": float(np.percentile(without, 90))}
