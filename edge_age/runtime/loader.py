"""Open a model file by its suffix, through the formats table (contract 2). Imports no torch: checkpoints
(``.pt``) are served by :class:`edge_age.models.checkpoint.TorchPredictor`, imported only when such a file
is asked for. Checking a file against its golden outputs is :mod:`edge_age.runtime.check`'s work."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from edge_age.errors import EdgeAgeError
from edge_age.formats import ExportFormat, format_of


def _format(p: Path) -> ExportFormat:
    fmt = format_of(p)
    if fmt is None:
        raise EdgeAgeError(f"unsupported model file type {p.suffix.lower()!r} (expected .pt, .onnx or .tflite)", p)
    return fmt


def open_model(path: str | Path, threads: int | None = None) -> Any:
    """The predictor for ``path`` on the runtime's default path; errors name the file."""
    p = Path(path)
    if not p.exists():
        raise EdgeAgeError("no such model file", p)
    if p.suffix.lower() in (".pt", ".pth"):
        try:
            from edge_age.models.checkpoint import TorchPredictor
        except ImportError as e:
            raise EdgeAgeError("PyTorch checkpoints need torch: pip install 'edge-age[train]'", p) from e
        return TorchPredictor(p, threads=threads)
    cls = _format(p).load_predictor()
    try:
        return cls(p, threads=threads)
    except EdgeAgeError as e:
        if e.path is None:  # e.g. a bad spec in the card or the metadata: name the file
            raise EdgeAgeError(e.reason, p) from e
        raise


def safe_opener(path: str | Path, threads: int | None = None) -> Callable[[], Any]:
    """Opens ``path`` on its runtime's safe path (LiteRT without XNNPACK, ONNX Runtime unoptimised)."""
    p = Path(path)
    cls = _format(p).load_predictor()
    return lambda: cls(p, threads=threads, safe=True)
