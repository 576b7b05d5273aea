"""Robustness of model files to what camera photos and old scans do to a face (benchmarks/robustness.md).

Two paths, the same degradations:
- chips: the UTKFace test chips, degraded at the model's input resolution (no detection);
- scenes: the faces-in-context set (`edge-age data wild --split test`), each whole photo degraded before
  the user's path (the card's detector -> framing -> crop -> model), ``--limit`` photos spread over the set.

The degradations are OpenCV/numpy (`edge_age.data.photo_degradations`, which `edge-age calibrate --degrade`
fits intervals on too), not the torch code that `train --degrade` augments with, and two of them (sepia, motion blur) are not among the training degradations at all:
they show whether robustness generalises beyond what was trained. Seeded: a re-run gives the same
numbers on the same machine.

    python benchmarks/robustness.py MODEL [MODEL ...] --data ../shared/data/UTKFace.tar.gz \
        --wild runs/wild_test --limit 600 --out benchmarks/robustness
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from edge_age import fileio
from edge_age.cli_types import POSITIVE_INT
from edge_age.data.photo_degradations import DEGRADATIONS, spread_rows
from edge_age.data.dataset import config_for_model, load_dataset
from edge_age.errors import EdgeAgeError
from edge_age.runtime import load_predictor

def _score(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """MAE, bias and the under-18 hit rate: the figures a user of an age gate reads first."""
    err = p - y
    return {"n": int(y.size), "mae": float(np.abs(err).mean()), "bias": float(err.mean()),
            "u18_tpr": float((p[y < 18] < 18).mean()) if (y < 18).any() else float("nan")}


def chips(model: str, data: str) -> dict[str, dict[str, float]]:
    """Each degradation on the test chips as the model takes them (its size and colour order: the
    functions above work in OpenCV's BGR, so RGB chips are turned round them)."""
    predictor = load_predictor(model, threads=1)
    order = slice(None, None, -1) if predictor.spec.color_order == "RGB" else slice(None)
    ds = load_dataset(config_for_model(predictor.data_config, data), predictor.spec, progress=False, splits=("test",))
    idx = ds.indices("test")
    faces, ages = ds.faces.faces[idx], ds.faces.ages[idx]
    out = {}
    for name, (fn, _) in DEGRADATIONS.items():
        rng = np.random.default_rng(0)
        x = faces if fn is None else np.stack([fn(np.ascontiguousarray(f[..., order]), rng)[..., order] for f in faces])
        out[name] = _score(ages, predictor.predict(x))
    return out


def degraded_copies(rows: list[dict[str, str]], folder: Path, root: Path) -> dict[str, Path]:
    """Each degradation's copy of the labeled photos ``rows`` (``file_name`` relative to ``folder``, ``age``) and
    their labels.csv under ``root``: name -> that labels.csv. PNG: no second compression on top of a degradation;
    each photo's noise is seeded by the degradation and its place in ``rows`` (the same copies every run)."""
    made = {}
    for k, (name, (fn, _)) in enumerate(DEGRADATIONS.items()):
        out = root / f"d{k}"
        out.mkdir(parents=True, exist_ok=True)
        names = []
        for i, row in enumerate(rows):
            img = cv2.imread(str(folder / row["file_name"]), cv2.IMREAD_COLOR)
            if img is None:
                raise EdgeAgeError("cannot read this photo", folder / row["file_name"])
            if fn is not None:
                img = fn(img, np.random.default_rng([k, i]))
            target = out / f"{i:06d}.png"
            if not cv2.imwrite(str(target), img, [cv2.IMWRITE_PNG_COMPRESSION, 3]):
                raise EdgeAgeError("cannot write the degraded photo", target)
            names.append((target.name, row["age"]))
        with open(out / "labels.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["file_name", "age"])
            w.writerows(names)
        made[name] = out / "labels.csv"
    return made


def degraded_scenes(wild: Path, limit: int, root: Path) -> dict[str, Path]:
    """Write each degradation's copy of ``limit`` scenes spread evenly over the set (its labels.csv is in
    name order, which for UTKFace names groups faces by age) and their labels under ``root``."""
    with open(wild / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise EdgeAgeError("lists no scenes", wild / "labels.csv")
    return degraded_copies(spread_rows(rows, limit), wild, root)


def scenes(model: str, made: dict[str, Path], cache: Path) -> dict[str, dict[str, float]]:
    """Each degraded copy of the scenes through the user's path: detection, framing, crop, model."""
    predictor = load_predictor(model, threads=1)
    out = {}
    for name, labels in made.items():
        cfg = config_for_model(predictor.data_config, str(labels), detect_faces=True)
        ds = load_dataset(cfg, predictor.spec, cache_dir=cache, progress=False, splits=("all",))
        idx = ds.indices("all")
        photos = len(ds.labeled.samples)
        row = _score(ds.faces.ages[idx], predictor.predict(ds.faces.faces[idx]))
        out[name] = {**row, "photos": photos, "found": row["n"] / photos}
    return out


def table(results: dict[str, dict], path: str) -> list[str]:
    """Markdown rows, one per degradation, a column per model (named by its path as given: two exports
    of one model share their file names)."""
    lines = ["| degradation | trained | " + " | ".join(f"`{m}` MAE (bias)" for m in results) + " |",
             "|---|---|" + "---:|" * len(results)]
    for name, (_, trained) in DEGRADATIONS.items():
        cells = []
        for m in results:
            r = results[m][path][name]
            found = f", {r['found']:.1%} found" if "found" in r else ""
            cells.append(f"{r['mae']:.2f} ({r['bias']:+.1f}{found})")
        mark = "-" if trained is None else "yes" if trained else "no"
        lines.append(f"| {name} | {mark} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--data", required=True, help="the dataset the models were trained on (UTKFace archive)")
    ap.add_argument("--wild", type=Path, required=True, help="folder made by `edge-age data wild --split test`")
    ap.add_argument("--limit", type=POSITIVE_INT, default=600, help="scenes per degradation (default: %(default)s)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/robustness"), help="writes OUT.json and OUT.md")
    args = ap.parse_args(argv)
    command = "python benchmarks/robustness.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="edge-age-robust-") as tmp:
        made = degraded_scenes(args.wild, args.limit, Path(tmp) / "scenes")
        for m in args.models:
            results[m] = {"chips": chips(m, args.data), "scenes": scenes(m, made, Path(tmp) / "cache")}
            print(m, json.dumps(results[m]["scenes"]["none"]), flush=True)
    record = {"command": command, "limit": args.limit, "results": results}
    fileio.write_json(args.out.with_suffix(".json"), record)
    md = markdown(record)
    fileio.write_text(args.out.with_suffix(".md"), md)
    print(md)
    return 0


def markdown(record: dict) -> str:
    """The tables of a run's JSON record (so a table can be re-rendered without re-measuring)."""
    results = record["results"]
    note = [record["note"], ""] if record.get("note") else []
    return "\n".join(["# Robustness to photo degradations (test split, 1 thread)", "",
                      f"Made by `{record['command']}`.", "",
                      *note,
                      "### UTKFace test chips, degraded at the model's input resolution (no detection)", "",
                      *table(results, "chips"), "",
                      f"### Faces in context, the whole photo degraded, then detection -> framing -> crop -> model "
                      f"({record['limit']} scenes spread over the set)", "", *table(results, "scenes"), ""])


if __name__ == "__main__":
    sys.exit(main())
