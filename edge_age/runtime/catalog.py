"""``edge-age models``: the model files a user can name with ``--model``. Imports no torch.

The bundled reference comes first (what ``predict`` uses by default), then the exports found under
the usual output folders of this directory (``export/``, ``runs/export/``) and any folder named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edge_age.errors import EdgeAgeError
from edge_age.formats import FORMATS, bundled_reference, format_of
from edge_age.runtime.card import read_card

SEARCHED = ("export", "runs/export")


def _model_files(folder: Path) -> list[Path]:
    return sorted(f for f in folder.rglob("*") if f.is_file() and f.suffix != ".json" and format_of(f))


def _row(f: Path, where: str) -> dict[str, Any]:
    fmt = format_of(f)
    row: dict[str, Any] = {"file": str(f), "where": where, "format": fmt.name if fmt else "?",
                           "mb": round(f.stat().st_size / 1e6, 2)}
    try:
        card = read_card(f, required=False)
    except EdgeAgeError as e:
        return {**row, "problem": e.reason}
    if card is None:
        return {**row, "problem": "no model card beside it"}
    entry = card.files.get(row["format"], {})
    entry = entry if isinstance(entry, dict) else {}
    return {**row, "name": card.name, "input": card.preprocess.size, "trained": card.trained,
            "val_mae": _number(_get(_get(entry, "parity"), "mae")), "golden": bool(entry.get("golden"))}


def _get(d: Any, key: str) -> Any:
    """``d[key]`` where ``d`` is a dict, else None: a card field of the wrong type reads as unknown."""
    return d.get(key) if isinstance(d, dict) else None


def _number(v: Any) -> float | None:
    """A finite number, else None (shown as unknown): a string or a list in a card never breaks the table."""
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < float("inf") else None


def list_models(folders: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """One row per model file: the bundled reference files, then every export found."""
    rows = [_row(bundled_reference(f.name), "bundled (default of predict)" if f.name == "tflite_int8" else "bundled")
            for f in FORMATS if bundled_reference(f.name).is_file()]
    seen = {Path(r["file"]).resolve() for r in rows}
    for folder in (*SEARCHED, *folders):
        if not Path(folder).is_dir():
            if folder in folders:
                raise EdgeAgeError("no such folder", folder)
            continue
        for f in _model_files(Path(folder)):
            if f.resolve() not in seen:
                seen.add(f.resolve())
                rows.append(_row(f, folder))
    return rows


def format_models(rows: list[dict[str, Any]]) -> str:
    """The table of ``edge-age models``: the short columns first, each as wide as its longest cell, and the
    file (of any length, in full) last, then any problem with it: a long path never pushes a column out of line."""
    cells = [(r["format"], f"{r['mb']:.2f}", str(r.get("input", "-")),
              "-" if r.get("val_mae") is None else f"{r['val_mae']:.3f}", r["where"],
              r["file"] + (f"  ({r['problem']})" if "problem" in r else "")) for r in rows]
    header = ("format", "MB", "input", "val MAE", "where", "file")
    widths = [max(len(c[i]) for c in [header, *cells]) for i in range(len(header) - 1)]
    right = (False, True, True, True, False)  # numbers right-aligned

    def line(c: tuple[str, ...]) -> str:
        return "  ".join(v.rjust(w) if r else v.ljust(w) for v, w, r in zip(c, widths, right)) + "  " + c[-1]

    return "\n".join(line(c) for c in [header, *cells])
