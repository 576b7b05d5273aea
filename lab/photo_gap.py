"""Where faces in context lose accuracy against the same faces as aligned chips (lab/photo_gap.md).

Joins, face by face, `edge-age eval --split test` on the aligned chips and `edge-age eval --detect-faces` on the
faces-in-context set made from the same split (`edge-age data wild`: scene i holds test chip i, and its
labels.csv holds where the chip was placed), and splits the gap -- |error in the scene| - |error as a chip| --
by face size in the scene, in-plane angle, how far the chip's square reaches past the photo's edge (in face
sides: a turned square pokes out by a corner, so the share of its area outside is smaller), and age.
Only faces found in their scene count (the aligned MAE of the same faces is the baseline). No file names are
written: the tables hold counts and means.

    python lab/photo_gap.py runs/eval/photo_aligned/predictions.csv runs/eval/photo_wild/predictions.csv \
        runs/wild_test/labels.csv --out lab/photo_gap

Lab script (lab/README.md). It imports edge_age internals (edge_age.data.wild, errors, fileio), so a rename
there can break it: tests/lab/test_lab_smoke.py runs its --help.
"""

from __future__ import annotations

import argparse
import csv
import shlex
import sys
from pathlib import Path

import numpy as np

from edge_age import fileio
from edge_age.data.wild import WildConfig, read_truth
from edge_age.errors import EdgeAgeError


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except OSError as e:
        raise EdgeAgeError(f"cannot read: {e.strerror}", path) from None


def join(aligned: Path, wild: Path, labels: Path, canvas: tuple[int, int] = WildConfig().canvas
         ) -> dict[str, np.ndarray]:
    """Per found face: true age, chip and scene estimates, face side and angle, and how far the face's
    square reaches past the photo's edge in face sides (0: wholly inside)."""
    chips, scenes = _rows(aligned), {r["name"]: r for r in _rows(wild)}
    try:
        placed = read_truth(labels)  # scene name -> the chip's square, in the scenes' order
    except OSError as e:
        raise EdgeAgeError(f"cannot read: {e.strerror}", labels) from None
    if len(chips) != len(placed):
        raise EdgeAgeError(f"{len(chips)} aligned predictions but {len(placed)} scenes: not the same split", labels)
    cols: dict[str, list[float]] = {k: [] for k in ("age", "chip", "scene", "side", "angle", "outside")}
    for chip, (name, square) in zip(chips, placed.items()):
        s = scenes.get(name)
        if s is None:
            continue  # no face found: counted by eval itself
        if float(chip["age"]) != float(s["age"]):
            raise EdgeAgeError(f"scene {name} is not the aligned file's face of the same row", wild)
        corners = square.corners()
        lo, hi = corners.min(axis=0), corners.max(axis=0)
        past = max(-lo[0], hi[0] - canvas[0], -lo[1], hi[1] - canvas[1], 0.0)
        for k, v in (("age", chip["age"]), ("chip", chip["estimate"]), ("scene", s["estimate"]),
                     ("side", square.side), ("angle", abs(square.angle)), ("outside", past / square.side)):
            cols[k].append(float(v))
    return {k: np.asarray(v) for k, v in cols.items()}


def table(d: dict[str, np.ndarray], key: str, edges: list[float], label: str) -> list[dict[str, float | str]]:
    """One row per bin of ``d[key]``: [lo, hi), or exactly lo where hi == lo (then the next bin is (lo, hi))."""
    gap = np.abs(d["scene"] - d["age"]) - np.abs(d["chip"] - d["age"])
    out, exact = [], None  # after a bin of exactly lo, the next one starts just above it
    for lo, hi in zip(edges[:-1], edges[1:]):
        above = d[key] > lo if lo == exact else d[key] >= lo
        k = above & (d[key] < hi) if hi > lo else d[key] == lo
        if k.any():
            shift = (d["scene"] - d["chip"])[k]
            out.append({"by": label, "from": lo, "to": hi, "open": lo == exact, "n": int(k.sum()),
                        "gap": float(gap[k].mean()), "shift": float(shift.mean()),
                        "abs_shift": float(np.abs(shift).mean())})
        exact = lo if hi == lo else None
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("aligned", type=Path, help="predictions.csv of eval on the aligned test chips")
    ap.add_argument("wild", type=Path, help="predictions.csv of eval --detect-faces on the faces-in-context set")
    ap.add_argument("labels", type=Path, help="that set's labels.csv (with face_cx, face_cy, face_side, face_angle)")
    ap.add_argument("--out", type=Path, default=Path("lab/photo_gap"), help="writes OUT.json and OUT.md")
    args = ap.parse_args(argv)
    d = join(args.aligned, args.wild, args.labels)
    q = np.quantile(d["side"], [0.2, 0.4, 0.6, 0.8])
    sides = sorted({np.floor(d["side"].min()), *np.round(q), np.floor(d["side"].max()) + 1})
    rows = (table(d, "side", sides, "face side in the scene (px; quintiles)")
            + table(d, "angle", [0, 5, 10, 15, 20, 26], "in-plane angle (degrees)")
            + table(d, "outside", [0, 0, 0.05, 0.15, 1.01], "reach of the face's square past the photo's edge (face sides)")
            + table(d, "age", [0, 13, 18, 25, 35, 45, 60, 120], "true age"))
    command = "python lab/photo_gap.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    chip_mae, scene_mae = float(np.abs(d["chip"] - d["age"]).mean()), float(np.abs(d["scene"] - d["age"]).mean())
    fileio.write_json(args.out.with_suffix(".json"), {"command": command, "n": int(len(d["age"])),
                                                      "chip_mae": chip_mae, "scene_mae": scene_mae, "rows": rows})
    lines = ["# Faces in context against the same faces as aligned chips", "", f"Made by `{command}`.", "",
             f"{len(d['age'])} faces found in their scene: MAE {chip_mae:.3f} as chips, {scene_mae:.3f} in the scenes "
             f"(gap {scene_mae - chip_mae:+.3f}). Gap = mean of |scene error| - |chip error|; shift = mean of scene "
             "estimate - chip estimate; |shift| = mean of its size.", ""]
    by = None
    for r in rows:
        if r["by"] != by:
            by = r["by"]
            lines += ["", f"| {by} | n | gap | shift | abs shift |", "|---|---:|---:|---:|---:|"]
        span = (f"{r['from']:g}" if r["to"] == r["from"] else
                f"{'>' if r['open'] else ''}{r['from']:g}-{r['to']:g}")
        lines.append(f"| {span} | {r['n']} | {r['gap']:+.3f} | {r['shift']:+.2f} | {r['abs_shift']:.2f} |")
    fileio.write_text(args.out.with_suffix(".md"), "\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except EdgeAgeError as e:
        sys.exit(f"error: {e}")
