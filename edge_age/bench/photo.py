"""The cost of the photo path before the model: detect -> frame -> crop -> resize, per 640x480 photo.

Measured on scenes made from the bench's data split (:mod:`edge_age.data.wild`), so the faces are
real; and on the same scenes' backgrounds alone, where every detection pass runs and finds nothing
(the worst case).
"""

from __future__ import annotations

import time
from typing import Any

import cv2
import numpy as np

from edge_age.data.faces import DetectConfig, detect_faces
from edge_age.data.framing import crop_detection
from edge_age.data.preprocess import PreprocessSpec, prepare_face


def _ms(fn, images: list[np.ndarray]) -> tuple[np.ndarray, list[Any]]:
    """Milliseconds of ``fn`` on each image, and what it returned."""
    ms, returned = [], []
    for img in images:
        t0 = time.perf_counter()
        returned.append(fn(img))
        ms.append((time.perf_counter() - t0) * 1e3)
    return np.asarray(ms), returned


def photo_path_cost(data: str, split: str, threads: int, n: int, spec: PreprocessSpec = PreprocessSpec(size=64)
                    ) -> dict[str, Any]:
    """Median and 90th-percentile milliseconds per photo with ``threads`` OpenCV threads."""
    from edge_age.data.dataset import DataConfig, split_samples
    from edge_age.data.wild import WildConfig, iter_scenes

    ls, samples = split_samples(DataConfig(data), split)
    scenes = [sc for _, sc in iter_scenes(ls, samples[:n], WildConfig(seed=0))]
    faces = [sc.image for sc in scenes]
    empty = [cv2.GaussianBlur(img, (0, 0), 25) for img in faces[: max(3, n // 3)]]  # no face survives

    def one(img: np.ndarray) -> int:
        found = detect_faces(img, DetectConfig.for_framing(spec.framing))
        for d in found:
            prepare_face(crop_detection(img, d, spec.framing, spec.size)[0], spec)
        return len(found)

    before = cv2.getNumThreads()
    cv2.setNumThreads(threads)
    try:
        one(faces[0])  # warm-up: loads the cascades
        (with_face, counts), (without, _) = _ms(one, faces), _ms(one, empty)
    finally:
        cv2.setNumThreads(before)
    return {"photos": len(faces), "found": sum(c > 0 for c in counts), "p50_ms": float(np.median(with_face)),
            "p90_ms": float(np.percentile(with_face, 90)), "no_face_p50_ms": float(np.median(without))}
