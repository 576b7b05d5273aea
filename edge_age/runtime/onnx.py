"""ONNX Runtime predictor. The preprocessing spec travels inside the file (``metadata_props``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edge_age.data.preprocess import PreprocessSpec, normalize
from edge_age.errors import EdgeAgeError
from edge_age.formats import META_SPEC
from edge_age.runtime.card import read_card
from edge_age.runtime.outputs import check_output_shape


class OnnxPredictor:
    runtime = "onnxruntime"

    def __init__(self, path: str | Path, threads: int | None = None, safe: bool = False) -> None:
        """``safe``: no graph optimisation (no fused kernels), the fallback when this machine fails the
        file's golden check (:mod:`edge_age.runtime.check`)."""
        import onnxruntime as ort

        self.path = Path(path)
        self.name = self.path.name
        so = ort.SessionOptions()
        if threads:
            so.intra_op_num_threads = threads
            so.inter_op_num_threads = 1
        so.log_severity_level = 3
        if safe:
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        self.safe = safe
        try:
            self.session = ort.InferenceSession(str(self.path), so, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise EdgeAgeError(f"not a loadable ONNX model ({type(e).__name__}: {str(e)[:160]})", self.path) from e
        inp = self.session.get_inputs()
        if len(inp) != 1 or len(inp[0].shape) != 4:
            raise EdgeAgeError(f"not an age model: expected one 4-D image input, found "
                               f"{[(i.name, i.shape) for i in inp]}", self.path)
        meta = self.session.get_modelmeta().custom_metadata_map
        self.card = read_card(self.path, required=META_SPEC not in meta)
        if META_SPEC in meta:
            self.spec = _metadata_spec(meta[META_SPEC], self.path)
        else:
            self.spec = self.card.preprocess
        self.input_name = inp[0].name
        self.layout = "NCHW" if inp[0].shape[1] == 3 else "NHWC"
        side = inp[0].shape[2]
        if isinstance(side, int) and side != self.spec.size:
            raise EdgeAgeError(f"input side {side} differs from the card's size {self.spec.size}", self.path)
        size = self.spec.size
        check_output_shape(self.path, self.session.get_outputs()[0].shape, inp[0].shape[0],
                           lambda n: self.predict(np.zeros((n, size, size, 3), np.uint8)))

    @property
    def data_config(self) -> dict[str, Any] | None:
        return self.card.data if self.card else None

    def predict(self, faces: np.ndarray) -> np.ndarray:
        x = normalize(faces, self.spec, self.layout)
        return np.asarray(self.session.run(None, {self.input_name: x})[0], dtype=np.float32).reshape(-1)


def _metadata_spec(text: str, path: Path) -> PreprocessSpec:
    """The preprocessing spec in the file's metadata; a one-line error naming the file where it is not JSON
    or not a spec."""
    try:
        return PreprocessSpec.from_dict(json.loads(text))
    except EdgeAgeError as e:
        raise EdgeAgeError(f"preprocessing metadata {META_SPEC!r}: {e.reason}", path) from e
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
        why = "nested too deep" if isinstance(e, RecursionError) else f"{type(e).__name__}: {str(e)[:160]}"
        raise EdgeAgeError(f"preprocessing metadata {META_SPEC!r} is not a valid spec ({why})", path) from e
