"""Contract 3: one predictor interface for every artifact. Imports no torch.

A predictor has ``spec`` (the :class:`PreprocessSpec` it was trained with), ``name``, ``runtime``
and ``predict(faces)`` mapping a uint8 ``N x S x S x 3`` batch of prepared face crops to ages in
years. Eval, bench and predict are written once against it. Checkpoints (``.pt``) are served by
:class:`edge_age.models.checkpoint.TorchPredictor`, imported only when such a file is asked for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edge_age.data.preprocess import PreprocessSpec
from edge_age.errors import EdgeAgeError
from edge_age.runtime.check import checked
from edge_age.runtime.loader import open_model, safe_opener


class Predictor(Protocol):
    spec: PreprocessSpec
    name: str
    runtime: str

    @property
    def data_config(self) -> dict[str, Any] | None: ...

    def predict(self, faces: np.ndarray) -> np.ndarray: ...


def load_predictor(path: str | Path, threads: int | None = None, check: bool = True,
                   flip_average: bool = False, framing: str | None = None) -> Predictor:
    """Open any supported model file by its suffix. ``check``: an exported file whose card has golden
    outputs is checked against them on its first use on this machine (:mod:`edge_age.runtime.check`).
    ``flip_average``: every estimate is the mean of the face's and its mirror image's
    (:mod:`edge_age.runtime.flip`; two model passes per face). ``framing``: detect and frame photos with this fit
    (a bundled detector's name, a ``data framing`` folder or its framing.json) instead of the card's."""
    predictor = _open_checked(path, threads, check, flip_average)
    if framing:
        from dataclasses import replace

        from edge_age.data.framing_fit import load_fit

        predictor.spec = replace(predictor.spec, framing=load_fit(framing)[0])
    return predictor


def _open_checked(path: str | Path, threads: int | None, check: bool, flip_average: bool) -> Predictor:
    predictor = open_model(path, threads)
    if check and not str(path).lower().endswith((".pt", ".pth")):
        try:
            predictor = checked(predictor, safe_opener(path, threads))
        except EdgeAgeError as e:
            if e.path is None:  # name the file
                raise EdgeAgeError(e.reason, Path(path)) from e
            raise
    if flip_average:
        from edge_age.runtime.flip import flip_averaged

        return flip_averaged(predictor)
    return predictor
