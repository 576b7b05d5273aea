"""Contract 2: the one table of export formats. Imports no torch.

The exporter, the runtime loader, the bench and the parametrised tests all iterate :data:`FORMATS`
(as ultralytics' exporter does), so a new format is one row here plus its writer and reader.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edge_age.errors import EdgeAgeError


@dataclass(frozen=True)
class ExportFormat:
    name: str  # key in the model card's "files"
    suffix: str  # appended to the model name: simplecnn_int8.tflite
    runtime: str  # onnxruntime | litert
    int8: bool
    layout: str  # input layout of the file
    description: str


FORMATS: tuple[ExportFormat, ...] = (
    ExportFormat("onnx_fp32", "_fp32.onnx", "onnxruntime", False, "NCHW", "ONNX opset 17, float32, dynamic batch"),
    ExportFormat("onnx_int8", "_int8.onnx", "onnxruntime", True, "NCHW",
                 "ONNX static QDQ int8 (per-channel weights), float I/O"),
    ExportFormat("tflite_fp32", "_fp32.tflite", "litert", False, "NHWC", "LiteRT float32, batch 1"),
    ExportFormat("tflite_int8", "_int8.tflite", "litert", True, "NHWC",
                 "LiteRT full-integer int8 (PT2E), int8 input and output, batch 1"),
)


# The model `predict` and the Android demo use unless told otherwise (issue 6: the compact model;
# SimpleCNN stays under export/simplecnn as the seed's model).
REFERENCE_MODEL = "mobilenetv2_age"


def reference_file(root: str | Path = ".", fmt: str = "tflite_int8") -> Path:
    """export/REFERENCE_MODEL/REFERENCE_MODEL<suffix> under ``root``."""
    return Path(root) / "export" / REFERENCE_MODEL / f"{REFERENCE_MODEL}{get_format(fmt).suffix}"


def get_format(name: str) -> ExportFormat:
    for f in FORMATS:
        if f.name == name:
            return f
    raise EdgeAgeError(f"unknown export format {name!r}; choose from {', '.join(f.name for f in FORMATS)}")


def format_of(path: str | Path) -> ExportFormat | None:
    """The format a model file belongs to, from its name (None for checkpoints and unknown files)."""
    name = Path(path).name
    for f in FORMATS:
        if name.endswith(f.suffix):
            return f
    ext = Path(path).suffix.lower()
    # Files renamed by hand still load: the runtime is chosen by extension, precision by content.
    for f in FORMATS:
        if not f.int8 and Path(f.suffix).suffix == ext:
            return f
    return None


def card_path(model_file: str | Path) -> Path:
    """The model card next to an exported file: export/simplecnn/simplecnn_int8.tflite -> simplecnn.json."""
    p = Path(model_file)
    f = format_of(p)
    stem = p.name[: -len(f.suffix)] if f and p.name.endswith(f.suffix) else p.stem
    return p.with_name(f"{stem}.json")
