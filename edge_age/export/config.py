"""What ``edge-age export`` is asked to do. Imports no torch, so the CLI reads its defaults from here."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from edge_age import fileio
from edge_age.cli_types import POSITIVE_INT, add_renamed, config_from_args, default_of, number

from edge_age.errors import EdgeAgeError
from edge_age.formats import FORMATS, ExportFormat, families, select


@dataclass(frozen=True)
class ExportConfig:
    checkpoint: str
    out: str | None = None  # default: runs/export/NAME (export/ holds committed references: only on request)
    name: str | None = None  # default: the checkpoint's model name
    formats: tuple[str, ...] = ("onnx", "tflite")  # families or row names of the formats table
    int8: bool = False
    data: str | None = None  # the dataset to prove and calibrate on (default: the checkpoint's)
    detect_faces: bool = False  # with data: its images are raw photos (a checkpoint's own path keeps its setting)
    calib_data: str | None = None  # default: the training split
    calib_size: int = 300
    limit: int | None = None  # parity on at most this many val faces (default: all)
    allow_degraded: bool = False
    qat_epochs: float = 0.0  # > 0: quantization-aware fine-tuning for the int8 TFLite file
    flip_average: bool = False  # every file averages each face's estimate with its mirror image's
    framing: str | None = None  # a `data framing` fit to put in the card instead of the checkpoint's

    def __post_init__(self) -> None:
        fileio.check_file_name(self.name, "--name")  # a stem inside --out, never a path out of it

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


def add_export_args(p: argparse.ArgumentParser) -> None:
    """``export``'s options after its positional checkpoint: defaults from :class:`ExportConfig`,
    format names from the formats table."""
    def d(name: str) -> Any:
        return default_of(ExportConfig, name)

    p.add_argument("--int8", action="store_true", help="with a family name in --formats: also its int8 file")
    p.add_argument("--formats", default=",".join(d("formats")), metavar="LIST",
                   help="comma list of families (" + ", ".join(families()) + ") or single files ("
                        + "; ".join(f"{f.name}: {f.description}" for f in FORMATS) + ") (default: %(default)s)")
    p.add_argument("--out", type=Path, default=d("out"),
                   help="output folder, replaced as a whole (default: runs/export/NAME; the committed references "
                        "under export/ change only when named here)")
    p.add_argument("--name", default=d("name"),
                   help="file name stem inside --out, not a path (default: the model name)")
    p.add_argument("--data", default=d("data"),
                   help="the dataset whose val split proves the files and whose train split calibrates them "
                        "(default: the checkpoint's; same split seed)")
    p.add_argument("--detect-faces", action="store_true",
                   help="with --data: its images are raw photos, each face found and framed first (a checkpoint "
                        "trained with --detect-faces keeps it on its own --data path only)")
    p.add_argument("--calib-data", default=d("calib_data"),
                   help="int8 only: calibration faces (default: the training split)")
    p.add_argument("--calib-size", type=POSITIVE_INT, default=d("calib_size"),
                   help="int8 only: calibration faces, age-stratified (default: %(default)s)")
    p.add_argument("--qat-epochs", type=number(float, 0, 100), default=d("qat_epochs"), metavar="E",
                   help="int8 TFLite only: fine-tune E epochs of the training split with simulated int8, "
                        "distilled from the float model, instead of post-training calibration alone "
                        "(0: off, the default; measurements in benchmarks/export.md)")
    p.add_argument("--flip-average", action="store_true",
                   help="every file runs each face and its mirror image and returns the mean estimate: inside "
                        "the file, so runtimes and the app need no change; two model passes per face")
    p.add_argument("--limit", type=POSITIVE_INT, default=d("limit"), metavar="N",
                   help="prove parity on at most N val faces (default: all)")
    add_renamed(p, "--val-limit", "--limit")
    p.add_argument("--framing", default=d("framing"), metavar="FILE",
                   help="the face framing the files carry, from `edge-age data framing` (its folder or "
                        "framing.json) or a bundled fit by detector name (mtcnn), instead of the checkpoint's: "
                        "a new detector needs its own fit, the model stays the same (default: the checkpoint's)")
    p.add_argument("--allow-degraded", action="store_true", help="keep int8 files that fail the collapse guard")
    p.add_argument("--cache-dir", type=Path, default=None, help="where prepared faces are cached (default: $EDGE_AGE_CACHE or ~/.cache/edge-age)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")


def export_config(args: argparse.Namespace) -> ExportConfig:
    """The :class:`ExportConfig` of a parsed ``export`` command line."""
    formats = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    return config_from_args(ExportConfig, args, formats=formats)
