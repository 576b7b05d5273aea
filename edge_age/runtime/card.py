"""The model card: the JSON beside every exported file (contract 3), typed. Imports no torch.

Export writes it, and the runtimes, eval, bench and predict read it through :class:`ModelCard`
rather than as a loose dict, so a card with a missing or mistyped field is refused by name when it
is read, not as a KeyError deep inside a consumer. The Kotlin core reads the same JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from edge_age import fileio
from edge_age.data.preprocess import PreprocessSpec
from edge_age.errors import EdgeAgeError
from edge_age.formats import card_path
from edge_age.runtime.golden import MAX_GOLDEN

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


def _check_entry(fmt: str, entry: Any) -> None:
    """A file entry's parts that the runtime computes with: golden outputs and per-face intervals."""
    if not isinstance(entry, dict) or not isinstance(entry.get("file", ""), str):
        raise TypeError(f"files.{fmt} is not a file entry")
    g = entry.get("golden")
    if g is not None:
        n = g.get("n") if isinstance(g, dict) else None
        if not (isinstance(n, int) and not isinstance(n, bool) and 0 < n <= MAX_GOLDEN and _numbers(g.get("ages"), n) and _numbers(g.get("ages_safe"), n)
                and _numbers([g.get("tolerance"), g.get("tolerance_safe", g.get("tolerance"))])
                and isinstance(g.get("seed"), int) and 0 <= g["seed"] < 2 ** 64):
            raise ValueError(f"files.{fmt}.golden needs a seed (0 .. 2^64-1), n (1 .. {MAX_GOLDEN}) and n ages, "
                             "n ages_safe and a tolerance")
    iv = entry.get("interval")
    if iv is not None:
        bands = iv.get("bands") if isinstance(iv, dict) else None
        if not (isinstance(bands, list) and bands and _numbers([iv.get("level")])
                and all(isinstance(b, dict) and _numbers([b.get("from")]) and _numbers(b.get("err"), 2) for b in bands)):
            raise ValueError(f"files.{fmt}.interval needs a level and bands of from and err [low, high]")
        edges = [b["from"] for b in bands]
        if edges[0] != 0 or any(a >= b for a, b in zip(edges, edges[1:])):
            raise ValueError(f"files.{fmt}.interval bands must start from 0 and rise: {edges}")


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
