"""``edge-age calibrate``: re-fit an exported model's per-face 80% intervals on the faces a user's runtime sees.

`export` fits each file's intervals on the val split of the data it was given; for an aligned-chip dataset those
are faces cropped as no camera crops them, and intervals fitted there under-cover photos (issue 36). This command
scores every file of a card on labeled faces of several kinds, pooled:

- ``--data``: datasets scored on their ``--split`` (val by default; the split the model was trained with, so no
  training face is used), detected where the card's data config or ``--detect-faces`` says;
- ``--photos``: labeled photos used whole, through detection (faces in context made by ``edge-age data wild
  --split val``, or a user's own camera photos never trained on);
- ``--degrade``: each ``--photos`` set again under every photo degradation (grey, sepia, low resolution, JPEG 15,
  grain, dark, motion blur; ``edge_age.data.photo_degradations``), up to ``--degrade-limit`` photos each, degraded in
  memory and put through the runtime's own detection and crop, so the intervals know what old scans and poor
  cameras do to the estimates;

and fits normalised conformal intervals, cross-fitted (:func:`edge_age.runtime.intervals.fit_scaled`: the width grows
with the estimate), each set counting equally by default (``--weigh sets``: 3,500 clean faces would otherwise decide the
widths for 600 of each degradation; ``--weigh faces``: each face once). It writes the model's files and the new
card into ``--out``; the card records what each file's intervals were calibrated on and the command. Imports no torch.
"""

from __future__ import annotations

import argparse
import shutil
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
    weigh: str = "sets"  # sets: each pooled set counts equally (each face weighs 1 / its set's size, at least
    # intervals.MIN_BAND, rescaled to mean 1); faces: each face once, so the largest set decides the widths
    # (lab/interval_quality.json measures both)
    threads: int = 0
    cache_dir: str | None = None


@dataclass
class FaceSet:
    """One pooled set: what it is (for the card), its faces at the model's input size and their true ages."""
    record: dict[str, Any]
    faces: np.ndarray
    ages: np.ndarray


MIN_FACES = 2 * intervals.MIN_BAND  # finite estimates a file needs: enough for a band's percentiles and a scale


def card_files(model: str | Path) -> tuple[Path, list[Path]]:
    """The card and the model files beside it that it lists (an export folder, or one file of it)."""
    p = Path(model)
    if not p.exists():
        raise EdgeAgeError("no such model file or folder", p)
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


def photos_path(path: str) -> Path:
    """A --photos set: a folder with labels.csv (as `data wild` writes), or any labeled dataset (folder, archive,
    CSV file) whose images are photos."""
    p = Path(path)
    if not p.exists():
        raise EdgeAgeError("--photos: no such folder or file", p)
    return p / "labels.csv" if p.is_dir() and (p / "labels.csv").is_file() else p


def check_config(cfg: CalibrateConfig) -> None:
    """Every option error before any face is loaded."""
    if cfg.split == "train":
        raise EdgeAgeError("--split train: intervals fitted on faces the model was trained on are too narrow; use "
                           "val (or all, for a set never trained on)")
    if not cfg.data and not cfg.photos:
        raise EdgeAgeError("nothing to calibrate on: give --data (scored on --split) and/or --photos")
    if cfg.degrade and not cfg.photos:
        raise EdgeAgeError("--degrade degrades --photos sets (whole photos before detection): give --photos")
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise EdgeAgeError("--out names a folder; this is a file", out)
    for path in cfg.photos:
        photos_path(path)


def degraded_sets(path: str, labels: Path, cfg: CalibrateConfig, spec: Any, log: Callable[[str], None]) -> list[FaceSet]:
    """Each photo degradation applied to up to ``cfg.degrade_limit`` photos of the set (spread over it; the ones
    its loader admits), in memory, then the runtime's own path: detection, framing, crop (the largest face)."""
    from edge_age.data.sources import load_labeled
    from edge_age.eval.degraded import degraded_faces

    ls = load_labeled(labels, cfg.scheme)
    sets, photos, unreadable = degraded_faces(ls.container.read, ls.display, [(s.name, s.age) for s in ls.samples],
                                              spec, True, cfg.degrade_limit)
    if unreadable:
        log(f"  {path}: {unreadable} of {photos} photo(s) unreadable, left out of the degraded copies")
    out = []
    for name, (faces, ages) in sets.items():
        out.append(FaceSet({"set": str(path), "split": "all", "detect_faces": True, "degradation": name,
                            "photos": photos, "n": len(ages)}, faces, ages))
        log(f"  {path} [all, {name}]: {len(ages)} faces")
    return out


def gather(cfg: CalibrateConfig, predictor: Any, log: Callable[[str], None]) -> list[FaceSet]:
    """Every pooled set, loaded once at the model's input size (all files of a card share its preprocessing)."""
    from edge_age.data.dataset import config_for_model, load_dataset

    cache = Path(cfg.cache_dir) if cfg.cache_dir else None
    sets: list[FaceSet] = []

    def add(record: dict[str, Any], data_cfg: Any, split: str) -> None:
        ds = load_dataset(data_cfg, predictor.spec, cache_dir=cache, progress=False, splits=(split,))
        idx = ds.indices(split)
        if len(idx) == 0:
            raise EdgeAgeError(f"the {split} split is empty", record["set"])
        sets.append(FaceSet({**record, "n": int(len(idx))}, ds.faces.faces[idx], ds.faces.ages[idx].astype(np.float64)))
        log(f"  {record['set']} [{record['split']}]: {len(idx)} faces")

    for path in cfg.data:
        data_cfg = config_for_model(predictor.data_config, path, cfg.scheme, cfg.detect_faces)
        record = {"set": str(path), "split": cfg.split}
        if data_cfg.also:  # several sources (a sources file): each one's path and whether it was detected
            record["sources"] = [{"path": str(c.path), "detect_faces": bool(c.detect_faces)}
                                 for c in (data_cfg, *data_cfg.also)]
        else:
            record["detect_faces"] = bool(data_cfg.detect_faces)
        add(record, data_cfg, cfg.split)
    for path in cfg.photos:
        labels = photos_path(path)
        add({"set": str(path), "split": "all", "detect_faces": True},
            config_for_model(predictor.data_config, str(labels), cfg.scheme, detect_faces=True), "all")
        if cfg.degrade:
            sets += degraded_sets(path, labels, cfg, predictor.spec, log)
    return sets


def _set_slices(records: list[dict[str, Any]], size: int) -> list[slice]:
    """Where each pooled set lies among the ``size`` estimates (the sets one after another, as ``gather`` pools them)."""
    bounds = np.cumsum([0] + [r["n"] for r in records])
    if bounds[-1] != size:
        raise ValueError(f"the sets hold {bounds[-1]} faces, the estimates {size}")
    return [slice(int(a), int(b)) for a, b in zip(bounds, bounds[1:])]


def _set_weights(ok: np.ndarray, records: list[dict[str, Any]]) -> np.ndarray:
    """Each finite face's weight when every set counts equally: a set's faces without an age leave its share whole."""
    return intervals.set_weights([int(ok[sl].sum()) for sl in _set_slices(records, ok.size)])


def _refit(entry: dict[str, Any], f: Path, pred: np.ndarray, ages: np.ndarray, records: list[dict[str, Any]],
           weigh: str, command: str, log: Callable[[str], None]) -> dict[str, Any]:
    """One file's card entry gets intervals fitted on its own estimates of the pooled faces; its coverage there."""
    ok = np.isfinite(pred)
    if ok.sum() < MIN_FACES:
        raise EdgeAgeError(f"too few faces to calibrate on: {int(ok.sum())} got a finite age (of {len(pred)}); "
                           f"intervals need at least {MIN_FACES} (add --data or --photos sets)", f)
    if not ok.all():
        log(f"  {f.name}: {int((~ok).sum())} face(s) without an age left out")
    before = entry.get("interval")
    w = _set_weights(ok, records) if weigh == "sets" else None
    entry["interval"] = {**intervals.fit_scaled(pred[ok], ages[ok], calibrated_on=records, weights=w),
                         "command": command}
    cov = intervals.coverage(ages[ok], *intervals.interval(pred[ok], entry["interval"]), [], pred[ok])
    was = ""
    if before:
        bcov = intervals.coverage(ages[ok], *intervals.interval(pred[ok], before), [], pred[ok])
        was = f" (the card's before: {bcov['coverage']:.3f}, {bcov['mean_width']:.1f} years)"
    log(f"  {f.name}: {cov['coverage']:.3f} of these {int(ok.sum())} faces inside (in sample: "
        f"these faces fitted it), mean width {cov['mean_width']:.1f} years{was}")
    per_set = _per_set(pred, ages, entry["interval"], records)
    log("    per set (in sample): " + ", ".join(f"{r['set']}{' ' + r['degradation'] if 'degradation' in r else ''} {c:.3f}"
                                    for r, c in zip(records, per_set)))
    return {"coverage": cov["coverage"], "mean_width": cov["mean_width"], "per_set": per_set}


def _per_set(pred: np.ndarray, ages: np.ndarray, fitted: dict[str, Any], records: list[dict[str, Any]]) -> list[float]:
    """Each pooled set's share of faces inside its interval (the sets lie in ``pred`` one after another)."""
    out = []
    for sl in _set_slices(records, pred.size):
        p, y = pred[sl], ages[sl]
        ok = np.isfinite(p)
        lo, hi = intervals.interval(p[ok], fitted)
        out.append(round(float(((y[ok] >= lo) & (y[ok] <= hi)).mean()), 4) if ok.any() else float("nan"))
    return out


def _listed(card: Any, files: list[Path], card_file: Path, log: Callable[[str], None]) -> list[Path]:
    """The files beside the card that it lists (one that it does not list is left out, said)."""
    listed = [f for f in files if format_of(f).name in card.files]
    for f in files:
        if f not in listed:
            log(f"  {f.name}: beside the card but not listed in it: left out")
    if not listed:
        raise EdgeAgeError("lists none of the model files beside it", card_file)
    return listed


def calibrate(cfg: CalibrateConfig, command: str = "", log: Callable[[str], None] = print,
              progress: bool = False) -> dict[str, Any]:
    """Re-fit every file's intervals on the pooled sets; write the files and the card into ``cfg.out``."""
    from edge_age.runtime.batch import predict_all

    check_config(cfg)
    card_file, files = card_files(cfg.model)
    out = Path(cfg.out)
    if out.resolve() == card_file.parent.resolve():
        raise EdgeAgeError("--out is the model's own folder: calibrate writes a new folder, never over a model", out)
    card = read_card(files[0])
    listed = _listed(card, files, card_file, log)
    predictors = {f: load_predictor(f, threads=cfg.threads or None) for f in listed}  # a broken file: refused first
    log(f"calibrating {card.name} ({len(listed)} file(s)) on:")
    sets = gather(cfg, predictors[listed[0]], log)
    faces = np.concatenate([s.faces for s in sets])
    ages = np.concatenate([s.ages for s in sets])
    records = [s.record for s in sets]
    result = {f.name: _refit(card.files[format_of(f).name], f, predict_all(predictors[f], faces, progress=progress)
                             .astype(np.float64), ages, records, cfg.weigh, command, log) for f in listed}
    absent = [fmt for fmt, e in card.files.items() if e.get("file") not in {f.name for f in listed}]
    for fmt in absent:  # a card lists what its folder holds: files not here (the bundled int8-only folder) go
        del card.files[fmt]
    with fileio.staged_folder(out, {card_file.name} | {f.name for f in listed}, index=card_file.name) as staging:
        for f in listed:
            shutil.copy2(f, staging / f.name)
        card.write(staging / card_file.name)
    log(f"wrote {len(listed)} file(s) and {card_file.name} to {out}"
        + (f" (the card's entries of absent files left out: {', '.join(absent)})" if absent else ""))
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
                        "such as `edge-age data wild --split val` writes, or any labeled dataset of photos never "
                        "trained on (folder, archive, CSV); more than once for several")
    p.add_argument("--split", default=d("split"), choices=[c for c in SPLIT_CHOICES if c != "train"],
                   help="the split of each --data set to use (default: %(default)s: never a training face; all: for "
                        "a set the model never saw)")
    p.add_argument("--degrade", action="store_true",
                   help="also each --photos set under every photo degradation (grey, sepia, low resolution, JPEG 15, "
                        "grain, dark, motion blur), up to --degrade-limit photos each")
    p.add_argument("--degrade-limit", type=POSITIVE_INT, default=d("degrade_limit"),
                   help="photos per set and degradation, spread over the set (default: %(default)s)")
    p.add_argument("--weigh", choices=("sets", "faces"), default=d("weigh"),
                   help="sets: each pooled set (each --data, --photos and degradation) counts equally, so a large "
                        "clean set does not decide the widths for the degraded ones; faces: every face counts once "
                        "(default: %(default)s)")
    p.add_argument("--threads", type=THREADS, default=d("threads"), help="runtime threads (default: all cores)")
