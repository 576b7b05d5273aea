"""Robustness of model files to what camera photos and old scans do to a face (benchmarks/robustness.md).

Two paths, the same degradations:
- chips: the UTKFace test chips, degraded at the model's input resolution (no detection);
- scenes: the faces-in-context set (`edge-age data wild --split test`), each whole photo degraded before
  the user's path (MTCNN detection -> framing -> crop -> model), ``--limit`` photos spread over the set.

The degradations are written with OpenCV/numpy here, not with the torch code that `train --degrade`
augments with, and two of them (sepia, motion blur) are not among the training degradations at all:
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
from typing import Callable

import cv2
import numpy as np

from edge_age import fileio
from edge_age.cli_types import POSITIVE_INT
from edge_age.data.dataset import config_for_model, load_dataset
from edge_age.errors import EdgeAgeError
from edge_age.runtime import load_predictor

Degrade = Callable[[np.ndarray, np.random.Generator], np.ndarray]  # BGR uint8 HxWx3 -> the same


def _u8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _grey(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return cv2.cvtColor(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.COLOR_GRAY2BGR)


def _sepia(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)[..., None]
    return _u8(g * np.array([0.55, 0.85, 1.1], np.float32))  # warm tint (B, G, R)


def _lowres(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = img.shape[:2]
    small = cv2.resize(img, (max(1, w // 3), max(1, h // 3)), interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _jpeg(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 15])
    return cv2.imdecode(buf, cv2.IMREAD_COLOR)


def _grain(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _u8(img + rng.normal(0, 8, img.shape))


def _dark(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _u8(255 * (img / 255.0) ** 1.8)


def _motion(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    side = max(3, round(min(img.shape[:2]) / 40))  # 5% of a face that fills half the frame
    return cv2.filter2D(img, -1, np.full((1, side), 1.0 / side, np.float32))


# name -> (function, a kind `train --degrade` trains with?); None: the photo as it is
DEGRADATIONS: dict[str, tuple[Degrade | None, bool | None]] = {
    "none": (None, None),
    "grey": (_grey, True),
    "sepia (not trained)": (_sepia, False),
    "low resolution 1/3": (_lowres, True),
    "JPEG quality 15": (_jpeg, True),
    "grain sigma 8": (_grain, True),
    "dark (gamma 1.8)": (_dark, True),
    "motion blur (not trained)": (_motion, False),
}


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


def degraded_scenes(wild: Path, limit: int, root: Path) -> dict[str, Path]:
    """Write each degradation's copy of ``limit`` scenes spread evenly over the set (its labels.csv is in
    name order, which for UTKFace names groups faces by age) and their labels under ``root``."""
    with open(wild / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise EdgeAgeError("lists no scenes", wild / "labels.csv")
    rows = [rows[i] for i in sorted(set(np.linspace(0, len(rows) - 1, min(limit, len(rows))).round().astype(int)))]
    made = {}
    for k, (name, (fn, _)) in enumerate(DEGRADATIONS.items()):
        folder = root / f"d{k}"
        folder.mkdir(parents=True, exist_ok=True)
        for i, row in enumerate(rows):
            img = cv2.imread(str(wild / row["file_name"]), cv2.IMREAD_COLOR)
            if img is None:
                raise EdgeAgeError("cannot read this scene", wild / row["file_name"])
            if fn is not None:
                img = fn(img, np.random.default_rng([k, i]))
            # PNG: no second compression on top of the degradation
            target = folder / Path(row["file_name"]).with_suffix(".png")
            if not cv2.imwrite(str(target), img, [cv2.IMWRITE_PNG_COMPRESSION, 3]):
                raise EdgeAgeError("cannot write the degraded scene", target)
        with open(folder / "labels.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["file_name", "age"])
            w.writerows([(Path(r["file_name"]).with_suffix(".png").name, r["age"]) for r in rows])
        made[name] = folder / "labels.csv"
    return made


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
