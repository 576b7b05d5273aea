"""``edge-age predict``: ages for image files, with any model file. Imports no torch.

Each image is a photo in which every face is found and framed as the model's card says (box, eyes,
rotation), or with ``--crops`` one face crop (the whole image, centre-squared). Bad files are reported, counted and
skipped, and so is a face the model gives no age (a NaN or infinite output, :mod:`edge_age.runtime.outputs`); the
exit code is non-zero only when no image could be processed (no face of it got an age).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np

from edge_age import fileio
from edge_age.runtime import intervals
from edge_age.runtime.quality import face_quality
from edge_age.data.containers import read_image_file
from edge_age.data.faces import DetectConfig, detect_faces
from edge_age.data.framing import Detection, Square
from edge_age.data.preprocess import PreprocessSpec, crop_face, decode_image, prepare_face
from edge_age.errors import EdgeAgeError
from edge_age.runtime.predict_config import PredictConfig
from edge_age.runtime import load_predictor
from edge_age.runtime.card import file_entry
from edge_age.runtime.flip import averages_mirror
from edge_age.runtime.outputs import not_an_age

def default_model() -> Path:
    """The reference int8 TFLite file bundled with the package (formats.REFERENCE_MODEL)."""
    from edge_age.formats import bundled_reference

    if not bundled_reference().is_file():
        raise EdgeAgeError(f"no --model given and the bundled reference model is missing ({bundled_reference()}); "
                           "reinstall edge-age or name a model file with --model")
    return bundled_reference()


@dataclass(frozen=True)
class Face:
    """One face of a photo: where it was found, the square fed to the model, and that crop."""

    detection: Detection | None  # None: the whole image was taken as one face crop
    square: Square
    crop: np.ndarray

    def as_dict(self) -> dict[str, Any]:
        d = self.detection.as_dict() if self.detection else {"box": None, "eyes": None}
        s = self.square
        d["crop"] = {"center": [round(s.cx, 1), round(s.cy, 1)], "side": round(s.side, 1), "angle": round(s.angle, 1)}
        return d


def faces_in(img: np.ndarray, detect: bool, spec: PreprocessSpec) -> list[Face]:
    """The faces to score: the centre square of a face crop, or every detection framed by the spec."""
    if not detect:
        h, w = img.shape[:2]
        side = min(h, w)
        return [Face(None, Square(w / 2, h / 2, side), img)]
    return [Face(d, *reversed(crop_face(img, d, spec))) for d in detect_faces(img, DetectConfig.for_framing(spec.framing))]


def annotate(img: np.ndarray, faces: list[Face], labels: list[str]) -> np.ndarray:
    """The photo with, per face, the (turned) square that was fed to the model and its label (the age)."""
    out = img.copy()
    thick = max(1, round(max(img.shape[:2]) / 300))
    for f, label in zip(faces, labels):
        corners = np.round(f.square.corners()).astype(np.int32)
        cv2.polylines(out, [corners], True, (0, 200, 0), thick)
        x, y = corners[:, 0].min(), corners[:, 1].min()
        cv2.putText(out, label, (int(x), max(12, int(y) - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.5 * thick,
                    (0, 200, 0), thick)
    return out


def annotation_paths(images: list[Path], folder: Path) -> list[Path]:
    """One distinct ``NAME_age.jpg`` per input in ``folder``: inputs that share a name in different folders get
    ``NAME_2_age.jpg``..., and no output is ever one of the inputs (it would be overwritten before it is read)."""
    def real(p: Path) -> str:
        return os.path.realpath(p)  # never raises, even on a symlink loop (Path.resolve does)

    inputs = {real(p) for p in images}
    taken: set[str] = set()
    out = []
    for path in images:
        k = 1
        while True:
            cand = folder / (f"{path.stem}_age.jpg" if k == 1 else f"{path.stem}_{k}_age.jpg")
            if real(cand) not in taken and real(cand) not in inputs:
                break
            k += 1
        taken.add(real(cand))
        out.append(cand)
    return out


def _score_image(path: Path, predictor: Any, detect: bool) -> tuple[np.ndarray, list[Face], list[float], list[dict]]:
    """One image's faces, ages and each face's quality signals (on the crop as fed to the model); an EdgeAgeError
    names the file and what is wrong with it."""
    if not path.is_file():
        raise EdgeAgeError("is a folder, not an image file (give the images in it: FOLDER/*.jpg)" if path.is_dir()
                           else "no such image file", path)
    img = decode_image(read_image_file(path), str(path))
    try:
        faces = faces_in(img, detect, predictor.spec)
    except EdgeAgeError as e:  # the detector's refusals (a photo too narrow to hold a face) name no file
        raise EdgeAgeError(e.reason, e.path or path) from None
    if not faces:
        raise EdgeAgeError("no face found", path)
    prepared = np.stack([prepare_face(f.crop, predictor.spec) for f in faces])
    ages = [float(a) for a in predictor.predict(prepared)]
    return img, faces, ages, [face_quality(x, f.square.side) for x, f in zip(prepared, faces)]


def _face_result(path: Path, face: Face, age: float, fitted: dict[str, Any] | None, cfg: PredictConfig,
                 quality: dict[str, Any] | None = None) -> tuple[str, dict[str, Any]]:
    """The printed line and the JSON entry of one face: age, 80% interval and std (where the card has
    intervals), or why it abstained (interval wider than --max-uncertainty, face under --min-face)."""
    d = face.as_dict()
    s = face.square
    box = d["box"] or [s.cx - s.side / 2, s.cy - s.side / 2, s.side, s.side]
    r: dict[str, Any] = {"file": str(path), **d, "age": round(age, 2), "interval": None, "std": None, "abstained": None,
                         "quality": quality}
    if fitted:
        lo, hi = (float(v[0]) for v in intervals.interval(np.array([age]), fitted))
        r.update(interval=[round(lo, 1), round(hi, 1)], std=round((hi - lo) / (2 * intervals.Z80), 2))
        if cfg.max_uncertainty is not None and not intervals.within(lo, hi, cfg.max_uncertainty):
            r["abstained"] = (f"{fitted['level']:.0%} interval {hi - lo:.0f} years wide > --max-uncertainty"
                              if intervals.valid(lo, hi) else f"{fitted['level']:.0%} interval [{lo}, {hi}] is "
                              "not finite or is inverted: no uncertainty to gate on")
    if cfg.min_face is not None and d["box"] and min(d["box"][2:]) < cfg.min_face:
        r["abstained"] = f"face {min(d['box'][2:]):.0f} px < --min-face"
    where = f"{fileio.tsv_field(str(path))}\t{','.join(str(round(v)) for v in box)}"  # a tab in a name: one line
    if r["abstained"]:
        r["age"] = None
        return f"{where}\tabstained: {r['abstained']}", r
    return f"{where}\t{age:.1f}" + (f"\t{r['interval'][0]:.0f}-{r['interval'][1]:.0f}" if fitted else ""), r


def _image_results(path: Path, faces: list[Face], ages: list[float], fitted: dict[str, Any] | None,
                   cfg: PredictConfig, quality: list[dict[str, Any]] | None = None
                   ) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """One image's printed lines, JSON entries and annotation labels. A face whose model output is not a
    number (NaN, infinite) is an error of that face: named on stderr and in its entry, counted, never an age."""
    lines, entries, labels = [], [], []
    for k, (f, a, q) in enumerate(zip(faces, ages, quality or [None] * len(faces)), 1):
        why = not_an_age(a)
        if why:
            print(f"edge-age: skipped {path}: face {k} of {len(faces)}: {why}", file=sys.stderr)
            entries.append({"file": str(path), "face": k, **f.as_dict(), "error": why})
            labels.append("!")
            continue
        line, r = _face_result(path, f, a, fitted, cfg, q)
        lines.append(line)
        entries.append(r)
        labels.append("?" if r["abstained"] else f"{a:.0f}")
    return lines, entries, labels


def header(fitted: dict[str, Any] | None) -> str:
    """The column names of the lines :func:`_face_result` makes (tab-separated, as they are)."""
    return "file\tbox x,y,w,h\tage" + (f"\t{fitted['level']:.0%} interval" if fitted else "")


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def predict(cfg: PredictConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Ages of every face in ``cfg.images``: a header, one line per face and a last line naming what was
    written to ``log``, problems per file and the counts to stderr. With ``--json -`` the JSON is standard
    output, so the default ``log`` (print) writes to stderr instead.
    Returns ``{"model", "runtime", "flip_average", "results", "failed"}`` (also written to ``cfg.json``;
    ``flip_average``: whether each age is the mean of the face's and its mirror image's, by the option or
    inside the file)."""
    if fileio.is_stdout(cfg.json) and log is print:
        log = _to_stderr  # stdout carries the JSON: nothing else may go there
    model = Path(cfg.model) if cfg.model else default_model()
    images = [Path(p) for p in cfg.images]
    _check_options(cfg)
    annotated = annotation_paths(images, Path(cfg.annotate)) if cfg.annotate else []
    predictor = load_predictor(model, threads=cfg.threads or None, flip_average=cfg.flip_average, framing=cfg.framing)
    fitted = (file_entry(predictor) or {}).get("interval")  # the card's 80% intervals, where it has them
    if cfg.max_uncertainty is not None and not fitted:
        raise EdgeAgeError("--max-uncertainty needs per-face intervals, and this file's model card has none "
                           "(re-export it with this version: export writes them)", model)
    results: list[dict[str, Any]] = []
    failed = n_annotated = 0
    said_header = False
    for i, path in enumerate(images):
        try:
            img, faces, ages, quality = _score_image(path, predictor, cfg.detect_faces)
        except EdgeAgeError as e:
            failed += 1
            print(f"edge-age: skipped {e}", file=sys.stderr)
            results.append({"file": str(path), "error": e.reason})
            continue
        lines, entries, labels = _image_results(path, faces, ages, fitted, cfg, quality)
        if lines and not said_header:
            log(header(fitted))  # before the first face line
            said_header = True
        for line in lines:
            log(line)
        results += entries
        failed += not lines  # no face of it got an age: it could not be scored
        if cfg.annotate and _write_annotated(annotated[i], img, faces, labels):
            n_annotated += 1
    _counts(images, results, failed, predictor)
    out = {"model": str(model), "runtime": predictor.runtime, "flip_average": averages_mirror(predictor),
           "results": results}
    if cfg.json:
        fileio.write_json(cfg.json, out)
    _say_written(cfg, n_annotated, log)
    return {**out, "failed": failed}


def _check_options(cfg: PredictConfig) -> None:
    """Option errors before any work: a bad output path, --min-face without detection."""
    if cfg.json:
        fileio.check_target(Path(cfg.json))
    if cfg.min_face is not None and not cfg.detect_faces:
        raise EdgeAgeError("--min-face needs face detection: with --crops each image is one face, of unknown size")


def _write_annotated(path: Path, img: np.ndarray, faces: list[Face], labels: list[str]) -> bool:
    ok, buf = cv2.imencode(".jpg", annotate(img, faces, labels))
    if ok:
        fileio.write_bytes(path, buf.tobytes())
    return bool(ok)


def _counts(images: list[Path], results: list[dict[str, Any]], failed: int, predictor: Any) -> None:
    n_faces = sum(1 for r in results if "error" not in r)
    abstained = sum(1 for r in results if r.get("abstained"))
    face_errors = sum(1 for r in results if "error" in r and "face" in r)
    print(f"{len(images)} image(s), {n_faces} face(s), " + (f"{abstained} abstained, " if abstained else "")
          + (f"{face_errors} face error(s) (no age from the model), " if face_errors else "")
          + f"{failed} skipped  [{predictor.name}, {predictor.runtime}]", file=sys.stderr)


def _say_written(cfg: PredictConfig, n_annotated: int, log: Callable[[str], None]) -> None:
    written = ([] if not cfg.json else ["the results as JSON to standard output" if fileio.is_stdout(cfg.json)
                                        else f"the results as JSON to {cfg.json}"])
    if cfg.annotate:
        written.append(f"{n_annotated} annotated image(s) to {cfg.annotate}")
    if written:
        log("wrote " + " and ".join(written))
