"""``edge-age calibrate``: re-fit an exported model's per-face 80% intervals on the faces a user's runtime sees.

`export` fits each file's intervals on the val split of the data it was given; for an aligned-chip dataset those
are faces cropped as no camera crops them, and intervals fitted there under-cover photos (issue 36). This command
scores every file of a card on labeled faces of several kinds, pooled:

- ``--data``: datasets scored on their ``--split`` (val by default; the split the model was trained with, so no
  training face is used), detected where the card's data config or ``--detect-faces`` says;
- ``--photos``: labeled photos used whole, through detection (faces in context made by ``edge-age data wild
  --split val``, or a user's own camera photos never trained on);
- ``--degrade``: each ``--photos`` set again under every photo degradation (grey, sepia, low resolution, JPEG 15,
  grain, dark, motion blur; ``edge_age.data.photo_degradations``), up to ``--degrade-limit`` photos each, so the
  intervals know what old scans and poor cameras do to the estimates;

and fits normalised split-conformal intervals (:func:`edge_age.runtime.intervals.fit_scaled`: the width grows with
the estimate). It writes the model's files and the new card into ``--out``; the card records what each file's
intervals were calibrated on and the command. Imports no torch.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edge_age import fileio
from edge_age.errors import EdgeAgeError
from edge_age.formats import FORMATS, card_path, format_of
from edge_age.runtime import intervals, load_predictor
from edge_age.runtime.card import read_card


@dataclass(frozen=True)
class CalibrateConfig:
    model: str  # an exported file or its folder: every file of its card is re-fitted
    out: str  # a new folder: the files and the re-fitted card
    data: tuple[str, ...] = ()  # datasets scored on `split`
    photos: tuple[str, ...] = ()  # labeled photos used whole, through detection
    split: str = "val"
    scheme: str = "auto"
    detect_faces: bool = False  # for --data (--photos are always detected)
    degrade: bool = False  # --photos again under each photo degradation
    degrade_limit: int = 600  # photos per set and degradation (spread over the set)
    threads: int = 0
    cache_dir: str | None = None


@dataclass
class FaceSet:
    """One pooled set: what it is (for the card), its faces at the model's input size and their true ages."""
    record: dict[str, Any]
    faces: np.ndarray
    ages: np.ndarray


def card_files(model: str | Path) -> tuple[Path, list[Path]]:
    """The card and the model files beside it that it lists (an export folder, or one file of it)."""
    p = Path(model)
    if p.is_dir():
        cards = [c for c in p.glob("*.json") if any(c.with_name(f"{c.stem}{f.suffix}").exists() for f in FORMATS)]
        if len(cards) != 1:
            raise EdgeAgeError(f"holds {len(cards)} model cards with their files; name one model file", p)
        card = cards[0]
    elif format_of(p):
        card = card_path(p)
    else:
        raise EdgeAgeError("is neither an exported model file (.onnx, .tflite) nor its folder", p)
    files = [card.with_name(f"{card.stem}{f.suffix}") for f in FORMATS]
    files = [f for f in files if f.exists()]
    if not files:
        raise EdgeAgeError("no model file of this card beside it", card)
    return card, files


def _labeled_rows(labels: Path) -> list[dict[str, str]]:
    with open(labels, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"file_name", "age"} <= set(rows[0]):
        raise EdgeAgeError("--photos needs a labels.csv with file_name and age columns (edge-age data wild writes one)",
                           labels)
    return rows


def _photos_labels(path: str) -> Path:
    p = Path(path)
    labels = p / "labels.csv" if p.is_dir() else p
    if not labels.is_file():
        raise EdgeAgeError("--photos names a folder with labels.csv or a labels CSV file", p)
    return labels


def gather(cfg: CalibrateConfig, predictor: Any, tmp: Path, log: Callable[[str], None]) -> list[FaceSet]:
    """Every pooled set, loaded once at the model's input size (all files of a card share its preprocessing)."""
    from edge_age.data.dataset import config_for_model, load_dataset
    from edge_age.data.photo_degradations import degraded_copies, spread_rows

    cache = Path(cfg.cache_dir) if cfg.cache_dir else None
    sets: list[FaceSet] = []

    def add(record: dict[str, Any], data_cfg: Any, split: str) -> None:
        ds = load_dataset(data_cfg, predictor.spec, cache_dir=cache, progress=False, splits=(split,))
        idx = ds.indices(split)
        if len(idx) == 0:
            raise EdgeAgeError(f"the {split} split is empty", record["set"])
        sets.append(FaceSet({**record, "n": int(len(idx))}, ds.faces.faces[idx], ds.faces.ages[idx].astype(np.float64)))
        log(f"  {record['set']} [{record['split']}{', ' + record['degradation'] if 'degradation' in record else ''}]: "
            f"{len(idx)} faces")

    for path in cfg.data:
        data_cfg = config_for_model(predictor.data_config, path, cfg.scheme, cfg.detect_faces)
        record = {"set": str(path), "split": cfg.split, "detect_faces": bool(data_cfg.detect_faces)}
        if data_cfg.also:  # several sources (a sources file): each one's path and whether it was detected
            record["sources"] = [{"path": str(c.path), "detect_faces": bool(c.detect_faces)}
                                 for c in (data_cfg, *data_cfg.also)]
        add(record, data_cfg, cfg.split)
    for path in cfg.photos:
        labels = _photos_labels(path)
        add({"set": str(path), "split": "all", "detect_faces": True},
            config_for_model(predictor.data_config, str(labels), detect_faces=True), "all")
        if cfg.degrade:
            rows = spread_rows(_labeled_rows(labels), cfg.degrade_limit)
            made = degraded_copies(rows, labels.parent, tmp / f"photos{len(sets)}")
            for name, copy in made.items():
                if name == "none":
                    continue  # the set itself, whole, is already in
                add({"set": str(path), "split": "all", "detect_faces": True, "degradation": name,
                     "photos": len(rows)}, config_for_model(predictor.data_config, str(copy), detect_faces=True), "all")
    if not sets:
        raise EdgeAgeError("nothing to calibrate on: give --data (scored on --split) and/or --photos")
    return sets


def calibrate(cfg: CalibrateConfig, command: str = "", log: Callable[[str], None] = print) -> dict[str, Any]:
    """Re-fit every file's intervals on the pooled sets; write the files and the card into ``cfg.out``."""
    card_file, files = card_files(cfg.model)
    out = Path(cfg.out)
    if out.resolve() == card_file.parent.resolve():
        raise EdgeAgeError("--out is the model's own folder: calibrate writes a new folder, never over a model", out)
    card = read_card(files[0])
    first = load_predictor(files[0], threads=cfg.threads or None)
    log(f"calibrating {card.name} ({len(files)} file(s)) on:")
    with tempfile.TemporaryDirectory(prefix="edge-age-calibrate-") as tmp:
        sets = gather(cfg, first, Path(tmp), log)
    faces = np.concatenate([s.faces for s in sets])
    ages = np.concatenate([s.ages for s in sets])
    records = [s.record for s in sets]
    result = {}
    for f in files:
        fmt = format_of(f).name
        predictor = first if f == files[0] else load_predictor(f, threads=cfg.threads or None)
        pred = np.asarray(predictor.predict(faces), np.float64)
        ok = np.isfinite(pred)
        if not ok.all():
            log(f"  {f.name}: {int((~ok).sum())} face(s) without an age left out")
        before = card.files[fmt].get("interval")
        fitted = {**intervals.fit_scaled(pred[ok], ages[ok], calibrated_on=records), "command": command}
        card.files[fmt]["interval"] = fitted
        lo, hi = intervals.interval(pred[ok], fitted)
        cov = intervals.coverage(ages[ok], lo, hi, [], pred[ok])
        was = ""
        if before:
            blo, bhi = intervals.interval(pred[ok], before)
            bcov = intervals.coverage(ages[ok], blo, bhi, [], pred[ok])
            was = f" (the card's before: {bcov['coverage']:.3f}, {bcov['mean_width']:.1f} years)"
        log(f"  {f.name}: on these {int(ok.sum())} faces {cov['coverage']:.3f} inside, mean width "
            f"{cov['mean_width']:.1f} years{was}")
        result[f.name] = {"coverage": cov["coverage"], "mean_width": cov["mean_width"]}
    owned = {card_file.name} | {f.name for f in files}
    with fileio.staged_folder(out, owned, index=card_file.name) as staging:
        for f in files:
            shutil.copy2(f, staging / f.name)
        card.write(staging / card_file.name)
    log(f"wrote {len(files)} file(s) and {card_file.name} to {out}")
    return {"files": result, "sets": records}


def add_calibrate_args(p: argparse.ArgumentParser) -> None:
    """``calibrate``'s options, their defaults from :class:`CalibrateConfig`."""
    from edge_age.cli_types import POSITIVE_INT, THREADS, default_of
    from edge_age.data.split import SPLIT_CHOICES

    def d(name: str) -> Any:
        return default_of(CalibrateConfig, name)

    p.add_argument("--out", required=True, type=Path,
                   help="a new folder: the model's files and the card with the re-fitted intervals")
    p.add_argument("--photos", action="append", default=None, metavar="PATH",
                   help="labeled photos used whole, through detection: a folder with labels.csv (file_name, age), "
                        "such as `edge-age data wild --split val` writes, or your own camera photos never trained "
                        "on; more than once for several")
    p.add_argument("--split", default=d("split"), choices=SPLIT_CHOICES,
                   help="the split of each --data set to use (default: %(default)s: never a training face)")
    p.add_argument("--degrade", action="store_true",
                   help="also each --photos set under every photo degradation (grey, sepia, low resolution, JPEG 15, "
                        "grain, dark, motion blur), up to --degrade-limit photos each")
    p.add_argument("--degrade-limit", type=POSITIVE_INT, default=d("degrade_limit"),
                   help="photos per set and degradation, spread over the set (default: %(default)s)")
    p.add_argument("--threads", type=THREADS, default=d("threads"), help="runtime threads (default: all cores)")
