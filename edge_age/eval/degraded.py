"""Faces as users' worse photos give them: each photo degradation of ``edge_age.data.photo_degradations`` applied to
whole images in memory, then the runtime's own path (detection, framing, crop of the largest face; for face crops
the crop as ``predict --crops`` takes it). Shared by ``eval --degrade`` (the reliability of estimates and intervals per
input kind) and ``calibrate --degrade`` (intervals fitted on them). Imports no torch.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from edge_age.errors import EdgeAgeError


def degraded_faces(read: Callable[[str], bytes], display: Callable[[str], str], samples: Sequence[tuple[str, float]],
                   spec: Any, detect: bool, limit: int, keep_none: bool = False
                   ) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], int, int]:
    """Per degradation name: the faces at the model's input and their true ages, from up to ``limit`` of
    ``samples`` (name, age) spread over them; each image's noise is seeded by the degradation and its place, so a
    re-run gives the same faces. ``keep_none``: also the images as they are (the same photos, for comparison).
    Returns the sets, the photos used and how many of them could not be read (left out)."""
    from edge_age.data.photo_degradations import DEGRADATIONS, spread_rows
    from edge_age.data.preprocess import decode_image, prepare_face
    from edge_age.runtime.predict import faces_in

    picked = spread_rows(list(samples), limit)
    kinds = [(k, name, fn) for k, (name, (fn, _)) in enumerate(DEGRADATIONS.items()) if fn is not None or keep_none]
    crops: dict[str, list[np.ndarray]] = {name: [] for _, name, _ in kinds}
    ages: dict[str, list[float]] = {name: [] for _, name, _ in kinds}
    unreadable = 0
    for i, (name, age) in enumerate(picked):
        try:
            img = decode_image(read(name), display(name))
        except (EdgeAgeError, OSError):
            unreadable += 1
            continue
        for k, kind, fn in kinds:
            faces = faces_in(img if fn is None else fn(img, np.random.default_rng([k, i])), detect, spec)
            if faces:  # largest first
                crops[kind].append(prepare_face(faces[0].crop, spec))
                ages[kind].append(float(age))
    out = {kind: (np.stack(crops[kind]), np.asarray(ages[kind], np.float64)) for _, kind, _ in kinds if crops[kind]}
    return out, len(picked), unreadable
