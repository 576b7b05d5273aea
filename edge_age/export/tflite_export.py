"""TFLite files with litert-torch (no TensorFlow): fp32, and full-integer int8 through PT2E."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from edge_age import fileio
from edge_age.quiet import native_stderr_off
from edge_age.data.preprocess import PreprocessSpec, normalize
from edge_age.export.prepare import NHWCInput
from edge_age.export.pt2e import PIXEL_INPUT_NOTE, fix_pixel_input, fix_relu6_ranges

if TYPE_CHECKING:
    from edge_age.export.job import WriteJob
    from edge_age.export.qat import QATConfig


def _convert(model, sample, **kw):
    """litert_torch.convert with the converter's C++ logging kept off the terminal."""
    with native_stderr_off():
        import litert_torch

        return litert_torch.convert(model, sample, **kw)


def _write(edge_model, path: Path) -> None:
    """The converted model's bytes, written atomically by Python. Not through the converter's own file
    writer (``edge_model.export``): on a full disk that one (LLVM's) ends the whole process with exit 1,
    its message going to the closed stderr and the staging folder left behind; Python's write raises an
    OSError that export turns into one line, removing the staging folder."""
    with native_stderr_off():
        data = edge_model.model_content()
    fileio.write_bytes(path, data)


def export_fp32(model: torch.nn.Module, path: Path, spec: PreprocessSpec) -> None:
    sample = (torch.zeros(1, spec.size, spec.size, 3),)
    _write(_convert(NHWCInput(model).eval(), sample), path)


def write_fp32(job: "WriteJob", path: Path) -> None:
    """Formats-table writer for tflite_fp32 (the spec travels in the model card, not the file)."""
    export_fp32(job.model, path, job.spec)


def write_int8(job: "WriteJob", path: Path) -> str:
    """Formats-table writer for tflite_int8: post-training calibration, or QAT when the job asks."""
    return export_int8(job.model, path, job.calibration(), job.spec, qat=job.qat, train_faces=job.train_faces,
                       progress=job.progress)


def export_int8(model: torch.nn.Module, path: Path, calib_faces: np.ndarray, spec: PreprocessSpec,
                qat: "QATConfig | None" = None, train_faces: np.ndarray | None = None,
                progress: bool = False) -> str:
    """PT2E static quantization: per-channel symmetric int8 weights, int8 activations, int8 I/O.

    Post-training by default: the exported graph has a fixed batch of 1, so calibration runs face
    by face. With ``qat`` (and ``train_faces``) the weights are first fine-tuned with simulated
    int8 (:mod:`edge_age.export.qat`). Returns how the ranges were set (recorded in the model card).
    """
    with native_stderr_off():  # importing the converter logs from C++
        from litert_torch.quantize import pt2e_quantizer
        from litert_torch.quantize.quant_config import QuantConfig
        from torchao.quantization.pt2e import quantize_pt2e

    sample = (torch.zeros(1, spec.size, spec.size, 3),)
    if qat is not None:
        from edge_age.export.qat import qat_graph

        if train_faces is None or len(train_faces) == 0:
            raise ValueError("quantization-aware fine-tuning needs training faces")
        graph, quantizer = qat_graph(NHWCInput(model).eval(), train_faces, spec, qat, progress=progress)
        _write(_convert(graph, sample, quant_config=QuantConfig(pt2e_quantizer=quantizer)), path)
        return qat.describe(len(train_faces)) + (f"; {PIXEL_INPUT_NOTE}" if spec.input_pixels else "")
    graph = torch.export.export(NHWCInput(model).eval(), sample).module()
    quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
        pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True)
    )
    graph = quantize_pt2e.prepare_pt2e(graph, quantizer)
    fix_relu6_ranges(graph)
    pixels = spec.input_pixels and fix_pixel_input(graph)
    x = normalize(calib_faces, spec, "NHWC")
    with torch.no_grad():
        for i in range(len(x)):
            graph(torch.from_numpy(x[i : i + 1]))
    graph = quantize_pt2e.convert_pt2e(graph, fold_quantize=False)
    _write(_convert(graph, sample, quant_config=QuantConfig(pt2e_quantizer=quantizer)), path)
    note = "histogram (PT2E HistogramObserver); ReLU6 outputs fixed to 0..6"
    return note + (f"; {PIXEL_INPUT_NOTE}" if pixels else "")
