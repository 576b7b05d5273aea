"""LiteRT (TFLite) predictor: ``ai_edge_litert`` where installed, else ``tflite_runtime``.

int8 files take int8 input and give int8 output; the scale and zero-point come from the file's
own tensors, so nothing is copied by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge_age.data.preprocess import dequantize, normalize, quantize
from edge_age.errors import EdgeAgeError
from edge_age.quiet import native_stderr_off
from edge_age.runtime.card import read_card
from edge_age.runtime.outputs import check_output_shape


def interpreter_class() -> Any:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        try:
            from tflite_runtime.interpreter import Interpreter
        except ImportError as e:
            raise EdgeAgeError("no TFLite interpreter: pip install ai-edge-litert (or tflite-runtime)") from e
    return Interpreter


def _without_delegates() -> dict[str, Any]:
    try:
        from ai_edge_litert.interpreter import OpResolverType
    except ImportError:
        from tflite_runtime.interpreter import OpResolverType
    return {"experimental_op_resolver_type": OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES}


class TFLitePredictor:
    runtime = "litert"

    def __init__(self, path: str | Path, threads: int | None = None, safe: bool = False) -> None:
        """``safe``: LiteRT's reference kernels without the XNNPACK delegate, the fallback when this
        machine fails the file's golden check (:mod:`edge_age.runtime.check`)."""
        self.path = Path(path)
        self.safe = safe
        self.name = self.path.name
        self.card = read_card(self.path)
        self.spec = self.card.preprocess
        try:
            with native_stderr_off():  # LiteRT's "Created TensorFlow Lite XNNPACK delegate" line
                self.interp = interpreter_class()(model_path=str(self.path), num_threads=threads or None,
                                                  **(_without_delegates() if safe else {}))
                self.interp.allocate_tensors()
        except (ValueError, RuntimeError) as e:
            raise EdgeAgeError(f"not a loadable TFLite model ({str(e)[:160]})", self.path) from e
        self.inp = self.interp.get_input_details()[0]
        self.out = self.interp.get_output_details()[0]
        # files that normalise inside take int8 pixel - 128 (scale 1, zero point -128): see input_tensor
        self._pixel_minus_128 = (self.spec.input_pixels and self.inp["dtype"] == np.int8
                                 and tuple(self.inp["quantization"]) == (1.0, -128))
        shape = list(self.inp["shape"])
        if len(shape) != 4 or shape[3] != 3 or shape[1] != self.spec.size:
            raise EdgeAgeError(f"input shape {shape} is not 1x{self.spec.size}x{self.spec.size}x3 (NHWC)", self.path)
        check_output_shape(self.path, list(self.out["shape"]), shape[0],
                           lambda n: self._output(np.zeros((self.spec.size, self.spec.size, 3), np.uint8)))

    @property
    def data_config(self) -> dict[str, Any] | None:
        return self.card.data

    def input_tensor(self, face: np.ndarray) -> np.ndarray:
        """The exact tensor fed to the interpreter for one uint8 face (the Android golden test's reference)."""
        if self._pixel_minus_128:
            # pixel - 128 without the float round trip below (same bytes: flipping the top bit of a uint8 and
            # reading it as int8 subtracts 128); about a twentieth of the compact model's latency
            return (np.asarray(face, dtype=np.uint8)[None] ^ np.uint8(0x80)).view(np.int8)
        x = normalize(face[None], self.spec, "NHWC")
        if self.inp["dtype"] in (np.int8, np.uint8):
            scale, zp = self.inp["quantization"]
            return quantize(x, scale, zp, self.inp["dtype"])
        return x.astype(self.inp["dtype"])

    def _output(self, face: np.ndarray) -> np.ndarray:
        """The file's output for one uint8 face, dequantized (one number: checked at load)."""
        self.interp.set_tensor(self.inp["index"], self.input_tensor(face))
        self.interp.invoke()
        y = self.interp.get_tensor(self.out["index"])
        if self.out["dtype"] in (np.int8, np.uint8):
            y = dequantize(y, *self.out["quantization"])
        return np.asarray(y)

    def predict(self, faces: np.ndarray) -> np.ndarray:
        out = np.empty(len(faces), np.float32)
        for i, face in enumerate(faces):
            out[i] = float(self._output(face).reshape(-1)[0])
        return out
