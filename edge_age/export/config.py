"""What ``edge-age export`` is asked to do. Imports no torch, so the CLI reads its defaults from here."""

from __future__ import annotations

from dataclasses import dataclass, fields

from edge_age.errors import EdgeAgeError
from edge_age.formats import FORMATS, ExportFormat, select


@dataclass(frozen=True)
class ExportConfig:
    checkpoint: str
    out: str | None = None  # default: runs/export/NAME (export/ holds committed references: only on request)
    name: str | None = None  # default: the checkpoint's model name
    formats: tuple[str, ...] = ("onnx", "tflite")  # families or row names of the formats table
    int8: bool = False
    data: str | None = None  # where the checkpoint's dataset is now (default: where it was)
    calib_data: str | None = None  # default: the training split
    calib_size: int = 300
    val_limit: int | None = None  # parity on at most this many val faces (default: all)
    allow_degraded: bool = False
    qat_epochs: float = 0.0  # > 0: quantization-aware fine-tuning for the int8 TFLite file

    def rows(self) -> list[ExportFormat]:
        """The formats-table rows asked for. An option that no chosen row takes is an error, not ignored
        (``--qat-epochs 1 --formats onnx`` would otherwise silently do nothing)."""
        chosen = select(self.formats, self.int8)
        defaults = {f.name: f.default for f in fields(self)}
        for option in sorted({o for f in FORMATS for o in f.options}):
            if getattr(self, option) != defaults[option] and not any(option in f.options for f in chosen):
                takers = ", ".join(f.name for f in FORMATS if option in f.options)
                raise EdgeAgeError(f"--{option.replace('_', '-')} applies to {takers} only, and none of them "
                                   f"was asked for (--formats {','.join(self.formats)}"
                                   f"{'' if self.int8 else ', no --int8'})")
        return chosen
