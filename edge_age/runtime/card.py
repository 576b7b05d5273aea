"""The model card: the JSON beside every exported file (contract 3), typed. Imports no torch.

Export writes it, and the runtimes, eval, bench and predict read it through :class:`ModelCard`
rather than as a loose dict, so a card with a missing or mistyped field is refused by name when it
is read, not as a KeyError deep inside a consumer. The Kotlin core reads the same JSON.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from edge_age import fileio
from edge_age.data.preprocess import PreprocessSpec
from edge_age.data.sources import MAX_AGE
from edge_age.errors import EdgeAgeError
from edge_age.formats import card_path
from edge_age.runtime.golden import MAX_GOLDEN

# A band's errors (estimate minus true age) lie within this many years, twice the oldest age a label may
# have: beyond it a number is no age error. Its band edges (predicted ages) lie within MAX_AGE.
ABSURD_YEARS = 2 * MAX_AGE
# The widest golden bound a card may state (years): the stored ones are 0.1 to 4; a collapsed kernel is off by
# tens of years, and a wider bound would let it pass.
MAX_TOLERANCE = 10.0

# Fields whose JSON type is checked when a card is read (beyond the preprocessing spec).
_TYPES: dict[str, tuple[type, ...]] = {
    "name": (str,), "model": (str,), "files": (dict,), "data": (dict, type(None)), "trained": (bool,),
    "flip_average": (bool,),
    "checkpoint": (dict, type(None)), "calibration": (dict, type(None)), "parity_on": (dict, type(None)),
    "split_counts": (dict, type(None)), "command": (str,), "created": (str,), "edge_age_version": (str,),
}


@dataclass
class ModelCard:
    name: str  # file stem: NAME_int8.tflite, NAME.json
    model: str  # registry name of the architecture
    preprocess: PreprocessSpec  # contract 1: how a face becomes the model's input
    edge_age_version: str = ""
    data: dict[str, Any] | None = None  # the training data config (its split); None: not trained here
    split_counts: dict[str, int] | None = None
    checkpoint: dict[str, Any] | None = None  # file, epoch, val_mae, pred_std, train_command[, teacher]
    calibration: dict[str, Any] | None = None  # int8: n, source, selection, ranges per file
    parity_on: dict[str, Any] | None = None  # the split and count every file was proven on
    command: str = ""
    created: str = ""
    trained: bool = True  # False: a bench baseline with stand-in weights (its MAE means nothing)
    # The files average each face's estimate with its mirror image's inside the graph (export --flip-average):
    # nothing for a runtime to do; said here because each face costs two model passes. The checkpoint's
    # val_mae / pred_std and every parity entry are then those of the flip-averaged float model.
    flip_average: bool = False
    baseline_version: int | None = None
    files: dict[str, dict[str, Any]] = field(default_factory=dict)  # formats-table row name -> file entry

    @classmethod
    def from_dict(cls, d: Any) -> "ModelCard":
        """A card from its JSON; ``ValueError``/``KeyError``/``TypeError`` say what is wrong."""
        if not isinstance(d, dict):
            raise TypeError("not a JSON object")
        _check_finite(d, "")
        missing = [k for k in ("name", "model", "preprocess") if k not in d]
        if missing:
            raise KeyError(f"no {', '.join(missing)}")
        for key, kinds in _TYPES.items():
            if key in d and not isinstance(d[key], kinds):
                raise TypeError(f"{key} is a {type(d[key]).__name__}")
        for fmt, entry in d.get("files", {}).items():
            _check_entry(fmt, entry)
        known = {f.name for f in fields(cls)}
        return cls(**{**{k: v for k, v in d.items() if k in known},
                      "preprocess": PreprocessSpec.from_dict(d["preprocess"])})

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["preprocess"] = self.preprocess.to_dict()
        if self.baseline_version is None:
            del d["baseline_version"]
        return d

    def write(self, path: str | Path) -> None:
        fileio.write_json(path, self.to_dict())


def _numbers(value: Any, n: int | None = None) -> bool:
    ok = isinstance(value, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    return ok and (n is None or len(value) == n)


def _check_finite(value: Any, where: str) -> None:
    """Every number anywhere in the card is finite: Python's json reads the bare tokens NaN, Infinity and
    -Infinity (which edge-age never writes, :func:`edge_age.fileio.finite_json`) as floats, and a NaN compares
    false with everything, so it would slip through every range check below. ``where``: the field's path."""
    if isinstance(value, dict):
        for k, v in value.items():
            _check_finite(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _check_finite(v, f"{where}[{i}]")
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{where} is {value}, not a finite number")


def _check_golden(fmt: str, g: Any) -> None:
    n = g.get("n") if isinstance(g, dict) else None
    if not (isinstance(n, int) and not isinstance(n, bool) and 0 < n <= MAX_GOLDEN and _numbers(g.get("ages"), n)
            and _numbers(g.get("ages_safe"), n)
            and _numbers([g.get("tolerance"), g.get("tolerance_safe", g.get("tolerance"))])
            and isinstance(g.get("seed"), int) and 0 <= g["seed"] < 2 ** 64):
        raise ValueError(f"files.{fmt}.golden needs a seed (0 .. 2^64-1), n (1 .. {MAX_GOLDEN}) and n ages, "
                         "n ages_safe and a tolerance")
    for key in ("tolerance", "tolerance_safe"):
        if key in g and not 0 < g[key] <= MAX_TOLERANCE:
            raise ValueError(f"files.{fmt}.golden.{key} is {g[key]}: a bound on a median difference of ages is "
                             f"above 0 and at most {MAX_TOLERANCE} years (a wider one checks nothing)")


def _check_interval(fmt: str, iv: Any) -> None:
    bands = iv.get("bands") if isinstance(iv, dict) else None
    if not (isinstance(bands, list) and bands and _numbers([iv.get("level")])
            and all(isinstance(b, dict) and _numbers([b.get("from")]) and _numbers(b.get("err"), 2) for b in bands)):
        raise ValueError(f"files.{fmt}.interval needs a level and bands of from and err [low, high]")
    if not 0 < iv["level"] < 1:
        raise ValueError(f"files.{fmt}.interval.level is {iv['level']}: a coverage level is between 0 and 1")
    edges = [b["from"] for b in bands]
    if edges[0] != 0 or any(a >= b for a, b in zip(edges, edges[1:])) or edges[-1] > MAX_AGE:
        raise ValueError(f"files.{fmt}.interval bands must start from 0 and rise (to at most {MAX_AGE:g}): {edges}")
    for i, b in enumerate(bands):
        lo, hi = b["err"]
        if lo > hi:
            raise ValueError(f"files.{fmt}.interval.bands[{i}].err {b['err']} is inverted (low above high)")
        if max(abs(lo), abs(hi)) > ABSURD_YEARS:
            raise ValueError(f"files.{fmt}.interval.bands[{i}].err {b['err']} is absurd: an error beyond "
                             f"{ABSURD_YEARS:g} years")
    scale = iv.get("scale")
    if scale is not None:
        if not (isinstance(scale, list) and scale and all(_numbers(pt, 2) for pt in scale)):
            raise ValueError(f"files.{fmt}.interval.scale needs points [estimate, scale]")
        xs = [pt[0] for pt in scale]
        if any(a >= b for a, b in zip(xs, xs[1:])) or not all(0 < pt[1] <= ABSURD_YEARS for pt in scale):
            raise ValueError(f"files.{fmt}.interval.scale {scale} is not rising estimates with scales above 0 "
                             f"and at most {ABSURD_YEARS:g} years")
        worst = max(max(abs(b["err"][0]), abs(b["err"][1])) for b in bands) * max(pt[1] for pt in scale)
        if worst > ABSURD_YEARS:
            raise ValueError(f"files.{fmt}.interval gives an error of {worst:.0f} years (err x scale): absurd")


def _check_output(fmt: str, out: Any) -> None:
    """The output shape the card states (where it does) is one number per face: batch x 1 x ..."""
    shape = out.get("shape") if isinstance(out, dict) else None
    if shape is not None and not (_numbers(shape) and shape and all(d == 1 for d in shape[1:])):
        raise ValueError(f"files.{fmt}.output.shape {shape} is not one age per face (batch x 1)")


def _check_entry(fmt: str, entry: Any) -> None:
    """A file entry's parts that the runtime computes with: golden outputs, per-face intervals, output shape."""
    if not isinstance(entry, dict) or not isinstance(entry.get("file", ""), str):
        raise TypeError(f"files.{fmt} is not a file entry")
    if entry.get("golden") is not None:
        _check_golden(fmt, entry["golden"])
    if entry.get("interval") is not None:
        _check_interval(fmt, entry["interval"])
    _check_output(fmt, entry.get("output"))


def file_entry(predictor: Any) -> dict[str, Any] | None:
    """The card's entry of this very file (matched by file name); None without a card or an entry."""
    card = getattr(predictor, "card", None)
    if card is None:
        return None
    return next((e for e in card.files.values() if e.get("file") == Path(predictor.path).name), None)


def read_card(model_file: str | Path, required: bool = True) -> ModelCard | None:
    """The card beside ``model_file``; None when it has none and ``required`` is off."""
    path = card_path(model_file)
    if not path.exists():
        if required:
            raise EdgeAgeError(f"model card {path.name} not found beside it; keep the exported folder together",
                               model_file)
        return None
    try:
        return ModelCard.from_dict(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as e:
        raise EdgeAgeError(f"model card is not valid edge-age JSON ({e})", path) from e
    except RecursionError as e:  # JSON nested deeper than Python's parser goes
        raise EdgeAgeError("model card is not valid edge-age JSON (nested too deep)", path) from e
    except EdgeAgeError as e:  # the preprocessing spec's own checks: name the card, not the model file
        if e.path is not None:
            raise
        raise EdgeAgeError(f"model card: {e.reason}", path) from e
