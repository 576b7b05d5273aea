"""The batch predictor that eval, export and bench share: any predictor over a whole array of face crops,
in batches, with a progress bar. Imports no torch."""

from __future__ import annotations

from typing import Any

import numpy as np


def predict_all(predictor: Any, faces: np.ndarray, batch_size: int = 64, progress: bool = True) -> np.ndarray:
    from tqdm import tqdm

    out = []
    for i in tqdm(range(0, len(faces), batch_size), desc=f"predicting {predictor.name}", leave=False,
                  disable=not progress, dynamic_ncols=True):
        out.append(np.asarray(predictor.predict(np.asarray(faces[i : i + batch_size])), dtype=np.float32).reshape(-1))
    return np.concatenate(out) if out else np.zeros(0, np.float32)
