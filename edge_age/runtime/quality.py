"""Per-face quality signals known at run time, beside each estimate in ``predict --json`` (issue 36 item 4): how many
photo pixels the face spans, how sharp and how coloured the crop fed to the model is. They describe the input, not
the model: a user can gate on them (a face of 40 px, a grey scan) and check them against the interval, which is
calibrated on photos of every such kind (``edge-age calibrate --degrade``). On clean photos none of them tracks the
error (lab/README.md, ``interval_signals``): the interval's width follows the estimate. Imports no torch.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

GREY_BELOW = 2.0  # mean |pixel - its grey level| under this: a greyscale face (a sepia tone is colour: ~24)


def face_quality(crop: np.ndarray, side_px: float) -> dict[str, Any]:
    """``crop``: the uint8 HxWx3 face as fed to the model (colour order irrelevant here); ``side_px``: the side of
    the square it was cut from, in photo pixels."""
    crop = np.ascontiguousarray(crop, dtype=np.uint8)
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    colour = float(np.abs(crop.astype(np.int16) - crop.mean(axis=2, keepdims=True)).mean())
    return {"face_px": round(float(side_px), 1),
            "sharpness": round(float(cv2.Laplacian(grey, cv2.CV_64F).var()), 1),  # variance of the Laplacian
            "colourfulness": round(colour, 2), "greyscale": colour < GREY_BELOW}
