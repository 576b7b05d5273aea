"""Checkpoints: weights plus everything needed to rebuild the model and its preprocessing.

A ``best.pt`` is self-describing -- model name and options, the :class:`PreprocessSpec`, the data
source and split -- so ``eval`` and ``export`` need nothing else. :class:`TorchPredictor` wraps one
in the predictor interface (uint8 face crops in, ages out) that every artifact shares.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from edge_age import fileio
from edge_age.data.preprocess import PreprocessSpec, normalize
from edge_age.errors import EdgeAgeError
from edge_age.models import create_model

FORMAT = "edge-age-checkpoint"
VERSION = 1


@dataclass
class _Sink:
    """The file torch.save writes through, keeping the OSError of a failed write: torch replaces it with a
    RuntimeError of its own ("unexpected pos 704 vs 598", "file write failed") that says neither why nor
    where, and a full disk must be told from a checkpoint torch cannot serialise."""

    file: BinaryIO
    error: OSError | None = None

    def write(self, data: Any) -> int:
        try:
            return self.file.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        try:
            self.file.flush()
        except OSError as e:
            self.error = e
            raise


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """Write ``payload`` (plus format tags) atomically. A full disk is one line naming the folder, and the
    previous file stays as it was; any other failed write is one line naming the file (:func:`fileio.atomic_path`)."""
    payload = {"format": FORMAT, "version": VERSION, **payload}
    path = Path(path)
    with fileio.when_disk_full(path.parent, path.name), fileio.atomic_path(path) as tmp, open(tmp, "wb") as f:
        sink = _Sink(f)
        try:
            torch.save(payload, sink)
        except RuntimeError:
            if sink.error is None:
                raise  # not a write: a payload torch cannot serialise is a bug, not the user's disk
            raise sink.error from None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and validate a checkpoint; clear errors for foreign, truncated or newer files."""
    p = Path(path)
    if not p.is_file():
        raise EdgeAgeError("no such checkpoint file", p)
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:
        raise EdgeAgeError(f"not a readable PyTorch checkpoint ({type(e).__name__}: {str(e)[:200]})", p) from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise EdgeAgeError("not an edge-age checkpoint (no 'format: edge-age-checkpoint' tag)", p)
    if ckpt.get("version", 0) > VERSION:
        raise EdgeAgeError(f"checkpoint version {ckpt['version']} is newer than this edge-age ({VERSION}); upgrade", p)
    _check_fields(ckpt, p)
    return ckpt


_FIELDS = {"model": (str, "a model name"), "state_dict": (dict, "a dict of weights"),
           "preprocess": (dict, "a preprocessing spec"), "model_kwargs": (dict, "a dict of model options")}


def _check_fields(ckpt: dict[str, Any], path: str | Path, required: tuple[str, ...] = ()) -> None:
    """The fields readers of a checkpoint rely on, each of its type where present, and those ``required``
    present: a one-line error naming the file instead of a KeyError or TypeError deep inside the loader (a
    resume file read for its settings alone needs no weights)."""
    for key, (kind, what) in _FIELDS.items():
        if key not in ckpt:
            if key in required:
                raise EdgeAgeError(f"checkpoint has no {key!r} ({what}); is it a truncated or foreign file?", path)
            continue
        if not isinstance(ckpt[key], kind):
            raise EdgeAgeError(f"checkpoint field {key!r} must be {what}, got {type(ckpt[key]).__name__}", path)


def build_model(ckpt: dict[str, Any], path: str | Path = "<checkpoint>") -> torch.nn.Module:
    # The trained weights replace any ImageNet start, so rebuilding never needs the hub file.
    _check_fields(ckpt, path, required=("model", "state_dict"))
    model = create_model(ckpt["model"], **{**ckpt.get("model_kwargs", {}), "pretrained": False})
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise EdgeAgeError(f"weights do not fit model {ckpt['model']!r}: {str(e).splitlines()[0]}", path) from e
    return model.eval()


class TorchPredictor:
    """Predictor over a PyTorch checkpoint (fp32 eager, for reference scores)."""

    runtime = "torch"

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        self.path = Path(path)
        self.checkpoint = load_checkpoint(self.path)
        _check_fields(self.checkpoint, self.path, required=("model", "state_dict", "preprocess"))
        self.spec = PreprocessSpec.from_dict(self.checkpoint["preprocess"])
        self.model = build_model(self.checkpoint, self.path)
        self.name = self.path.name
        if threads:
            torch.set_num_threads(threads)

    @property
    def data_config(self) -> dict[str, Any] | None:
        return self.checkpoint.get("data")

    @torch.inference_mode()
    def predict(self, faces: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(normalize(faces, self.spec, "NCHW"))
        return self.model(x).float().reshape(-1).numpy()
