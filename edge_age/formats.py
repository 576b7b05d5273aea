"""Contract 2: the one table of export formats. Imports no torch.

Each row names everything the code needs about a format -- its family and precision, the function
that writes it and the class that runs it (as ``module:attr`` strings, so this table stays
torch-free), the export options only it takes, and the metadata keys the file carries inside.
The exporter, the runtime loader, the bench and the parametrised tests all iterate :data:`FORMATS`
(as ultralytics' ``export_formats()``), so a new format is one row here plus its writer and reader.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from edge_age.errors import EdgeAgeError

# Keys of the ONNX ``metadata_props`` written by the exporter and read by the runtime.
META_SPEC = "edge_age.preprocess"
META_CARD = "edge_age.card"

# Export options (fields of ``ExportConfig``) that only some rows take.
CALIBRATION = ("calib_data", "calib_size")


@dataclass(frozen=True)
class ExportFormat:
    name: str  # key in the model card's "files", and a value of ``export --formats``
    family: str  # onnx | tflite: ``export --formats onnx`` picks the family's rows
    precision: str  # fp32 | int8
    suffix: str  # appended to the model name: simplecnn_int8.tflite
    runtime: str  # onnxruntime | litert
    layout: str  # input layout of the file
    writer: str  # "module:function", called as function(job, path) -> how ranges were set, or None
    predictor: str  # "module:Class", called as Class(path, threads=...)
    options: tuple[str, ...]  # ExportConfig fields this row uses beyond the common ones
    metadata: tuple[str, ...]  # keys stored inside the file (empty: the file relies on its model card)
    description: str

    @property
    def int8(self) -> bool:
        return self.precision == "int8"

    def load_writer(self) -> Any:
        return load_object(self.writer)

    def load_predictor(self) -> Any:
        return load_object(self.predictor)


FORMATS: tuple[ExportFormat, ...] = (
    ExportFormat("onnx_fp32", "onnx", "fp32", "_fp32.onnx", "onnxruntime", "NCHW",
                 "edge_age.export.onnx_export:write_fp32", "edge_age.runtime.onnx:OnnxPredictor",
                 (), (META_SPEC, META_CARD), "ONNX opset 17, float32, dynamic batch"),
    ExportFormat("onnx_int8", "onnx", "int8", "_int8.onnx", "onnxruntime", "NCHW",
                 "edge_age.export.onnx_export:write_int8", "edge_age.runtime.onnx:OnnxPredictor",
                 CALIBRATION, (META_SPEC, META_CARD), "ONNX static QDQ int8 (per-channel weights), float I/O"),
    ExportFormat("tflite_fp32", "tflite", "fp32", "_fp32.tflite", "litert", "NHWC",
                 "edge_age.export.tflite_export:write_fp32", "edge_age.runtime.tflite:TFLitePredictor",
                 (), (), "LiteRT float32, batch 1"),
    ExportFormat("tflite_int8", "tflite", "int8", "_int8.tflite", "litert", "NHWC",
                 "edge_age.export.tflite_export:write_int8", "edge_age.runtime.tflite:TFLitePredictor",
                 (*CALIBRATION, "qat_epochs"), (),
                 "LiteRT full-integer int8 (PT2E), int8 input and output, batch 1"),
)


# The model `predict` and the Android demo use unless told otherwise (issue 6: the compact model;
# SimpleCNN stays under export/simplecnn as the seed's model).
REFERENCE_MODEL = "mobilenetv2_age"


def load_object(target: str) -> Any:
    """``"package.module:attr"`` -> the attribute; imported only when a row is used."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def families() -> list[str]:
    return sorted({f.family for f in FORMATS})


def bundled_reference(fmt: str = "tflite_int8") -> Path:
    """The reference model's file inside the installed package (edge_age/reference/; a test keeps it
    byte-identical to the committed export/REFERENCE_MODEL/ file)."""
    return Path(__file__).resolve().parent / "reference" / f"{REFERENCE_MODEL}{get_format(fmt).suffix}"


def reference_file(root: str | Path = ".", fmt: str = "tflite_int8") -> Path:
    """export/REFERENCE_MODEL/REFERENCE_MODEL<suffix> under ``root``."""
    return Path(root) / "export" / REFERENCE_MODEL / f"{REFERENCE_MODEL}{get_format(fmt).suffix}"


def get_format(name: str) -> ExportFormat:
    for f in FORMATS:
        if f.name == name:
            return f
    raise EdgeAgeError(f"unknown export format {name!r}; choose from {', '.join(f.name for f in FORMATS)}")


def sibling(fmt: ExportFormat, precision: str) -> ExportFormat | None:
    """The row of the same family at another precision (an int8 file is judged against its fp32 sibling)."""
    return next((f for f in FORMATS if f.family == fmt.family and f.precision == precision), None)


def select(requested: Iterable[str], int8: bool) -> list[ExportFormat]:
    """Rows for ``export --formats``: a family name gives its fp32 row (and int8 with ``int8``); a row
    name gives that row. Table order, no repeats."""
    requested = [r.strip() for r in requested if r.strip()]
    valid = families() + [f.name for f in FORMATS]
    unknown = [r for r in requested if r not in valid]
    if unknown:
        raise EdgeAgeError(f"--formats: unknown format {', '.join(unknown)}; choose from {', '.join(valid)}")
    if not requested:
        raise EdgeAgeError(f"--formats: empty; choose from {', '.join(valid)}")
    return [f for f in FORMATS if f.name in requested or (f.family in requested and (int8 or not f.int8))]


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


def model_files(model_file: str | Path) -> tuple[Path, ...]:
    """What reading a model file reads: the file, and for an exported file the card beside it."""
    p = Path(model_file)
    return (p, card_path(p)) if format_of(p) else (p,)


def read_kinds() -> dict[str, str]:
    """Suffixes of the model files edge-age reads (no output option writes one), by what they are."""
    return {**{Path(f.suffix).suffix: "a model" for f in FORMATS}, ".pt": "a checkpoint"}
