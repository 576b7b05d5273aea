"""Fit the :class:`Framing` from data and measure what error it leaves.

Training chips are placed in scenes (:mod:`edge_age.data.wild`), where each chip's square is known;
the project's own detector is run on every scene, and each rule's parameters (centre offset, side and
angle relative to the box or to the eyes) are read off every detection. The medians are the framing:
robust to the odd wrong eye pair. The residuals of the fitted framing on the same scenes (scale,
shift, angle of the crop against the chip) are what training augmentation must tolerate.
"""

from __future__ import annotations

import itertools
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np

from edge_age.data.faces import DetectConfig, detect_faces
from edge_age.data.framing import DETECTORS, RULE_FIELDS, Detection, Framing, Square, box_square, eye_square, frame

if TYPE_CHECKING:
    from edge_age.data.dataset import DataConfig
    from edge_age.data.wild import WildConfig

# Offsets 0 and scale 1: the raw geometry of a detection, against which the fit measures each chip.
_NEUTRAL = Framing(0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0)
# The framing's numeric parameters, in the dataclass's order: one column of the fit each.


@dataclass(frozen=True)
class Match:
    """The detection that belongs to a scene's chip (None: no face found at the chip)."""

    truth: Square
    det: Detection | None


def _local(dx: float, dy: float, cos: float, sin: float) -> tuple[float, float]:
    """A displacement expressed in the frame whose x axis is (cos, sin)."""
    return dx * cos + dy * sin, -dx * sin + dy * cos


def _angle_diff(a: float, b: float) -> float:
    return (a - b + 180) % 360 - 180


def match(truth: Square, dets: list[Detection]) -> Detection | None:
    """The largest detection (as predict takes it) whose centre lies within half the chip's side of the
    chip's centre: a smaller false box on an eye or the mouth must not stand for the face."""
    near = [d for d in dets if math.hypot(d.center[0] - truth.cx, d.center[1] - truth.cy) < 0.5 * truth.side]
    return max(near, key=lambda d: d.w * d.h, default=None)


def detect_matches(scenes: Iterable[tuple[np.ndarray, Square]], cfg: DetectConfig = DetectConfig(),
                   workers: int = 2) -> list[Match]:
    """Run the detector on every scene (threads: OpenCV releases the GIL)."""
    def one(item: tuple[np.ndarray, Square]) -> Match:
        img, truth = item
        return Match(truth, match(truth, detect_faces(img, cfg)))

    out: list[Match] = []
    it = iter(scenes)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while chunk := list(itertools.islice(it, 64)):  # a bounded number of scenes in memory
            out += pool.map(one, chunk)
    return out


def rule_samples(matches: list[Match]) -> dict[str, np.ndarray]:
    """Per detection, the parameters that would frame its chip exactly (NaN where a rule does not apply).

    Eye offsets are in the frame of the eye line itself; :func:`fit_framing` turns them by the fitted
    ``eye_angle``, in whose frame the eye rule applies them.
    """
    rows = []
    for m in matches:
        if m.det is None:
            continue
        t, d = m.truth, m.det
        side = (d.w + d.h) / 2
        b = box_square(d, _NEUTRAL)
        bx, by = _local(t.cx - b.cx, t.cy - b.cy, b.cos, b.sin)
        row = [bx / side, by / side, t.side / side] + [math.nan] * 4
        if d.eyes is not None:
            e = eye_square(d.eyes[0], d.eyes[1], _NEUTRAL)
            dist = e.side  # eye_scale 1: the side is the eye distance
            mx, my = (d.eyes[0][0] + d.eyes[1][0]) / 2, (d.eyes[0][1] + d.eyes[1][1]) / 2
            ex, ey = _local(t.cx - mx, t.cy - my, e.cos, e.sin)
            row[3:] = [ex / dist, ey / dist, t.side / dist, _angle_diff(t.angle, e.angle)]
        rows.append(row)
    arr = np.asarray(rows, dtype=np.float64).reshape(-1, len(RULE_FIELDS))
    return {k: arr[:, i] for i, k in enumerate(RULE_FIELDS)}


def fit_framing(matches: list[Match], use_eyes: bool = True, fitted_on: str = "", detector: str = DETECTORS[0]) -> Framing:
    """Medians of :func:`rule_samples`; the eye rule only where enough eye pairs were found."""
    s = rule_samples(matches)
    if len(s["box_scale"]) == 0:
        from edge_age.errors import EdgeAgeError

        raise EdgeAgeError("no face was detected in any scene: cannot fit a framing")
    med = {k: float(np.nanmedian(v)) if np.isfinite(v).any() else 0.0 for k, v in s.items()}
    a = math.radians(med["eye_angle"])
    ex, ey = _local(s["eye_dx"], s["eye_dy"], math.cos(a), math.sin(a))
    if np.isfinite(ex).any():
        med["eye_dx"], med["eye_dy"] = float(np.nanmedian(ex)), float(np.nanmedian(ey))
    n_eyes = int(np.isfinite(s["eye_scale"]).sum())
    if not use_eyes or n_eyes < max(20, 0.1 * len(s["box_scale"])):
        for k in ("eye_dx", "eye_dy", "eye_scale", "eye_angle"):
            med[k] = 0.0
    return Framing(**{k: round(v, 4) for k, v in med.items()}, fitted_on=fitted_on, detector=detector)


def residuals(matches: list[Match], framing: Framing) -> dict[str, np.ndarray]:
    """What the framing leaves, per found face: crop side / chip side, centre shift in chip sides
    (in the chip's own frame), and angle error in degrees."""
    scale, sx, sy, ang = [], [], [], []
    for m in matches:
        if m.det is None:
            continue
        t, p = m.truth, frame(m.det, framing)
        dx, dy = _local(p.cx - t.cx, p.cy - t.cy, t.cos, t.sin)
        scale.append(p.side / t.side)
        sx.append(dx / t.side)
        sy.append(dy / t.side)
        ang.append(_angle_diff(p.angle, t.angle))
    return {"scale": np.asarray(scale), "shift_x": np.asarray(sx), "shift_y": np.asarray(sy),
            "angle": np.asarray(ang)}


def summarize(matches: list[Match], framing: Framing) -> dict[str, Any]:
    """Detection and eye rates, and the residuals' spread (median, 5th and 95th percentiles)."""
    found = [m for m in matches if m.det is not None]
    res = residuals(matches, framing)
    spread = {k: {"median": float(np.median(v)), "p05": float(np.percentile(v, 5)), "p95": float(np.percentile(v, 95))}
              for k, v in res.items() if len(v)}
    return {
        "scenes": len(matches),
        "found": len(found),
        "found_rate": len(found) / max(1, len(matches)),
        "eyes_rate": sum(m.det.eyes is not None for m in found) / max(1, len(found)),
        "residuals": spread,
    }


def fit_command(cfg: "DataConfig", split: str, out: Path, wild: "WildConfig", progress: bool,
                detector: str = DETECTORS[0]) -> dict[str, Any]:
    """``edge-age data framing``: fit on scenes of one split, write the framing and what it leaves."""
    from tqdm import tqdm

    from edge_age import fileio
    from edge_age.data.dataset import split_samples
    from edge_age.data.wild import iter_scenes

    from edge_age.errors import EdgeAgeError

    ls, samples = split_samples(cfg, split)
    problems: list = []
    scenes = ((sc.image, sc.truth) for _, sc in tqdm(iter_scenes(ls, samples, wild, problems), total=len(samples),
                                                     disable=not progress, desc="detect", unit="scene"))
    matches = detect_matches(scenes, DetectConfig(detector=detector))
    if len(problems) == len(samples):
        raise EdgeAgeError(f"no scene could be made: none of the {len(samples)} {split} images could be read "
                           f"(first: {problems[0]})", cfg.path)
    if not any(m.det is not None for m in matches):
        raise EdgeAgeError(f"no face was detected in any of the {len(samples) - len(problems)} scenes: cannot fit "
                           "a framing", cfg.path)
    what = f"{len(samples)} {split} faces of {cfg.path} in scenes (seed {wild.seed}), {detector} detector"
    eyes, box = fit_framing(matches, True, what, detector), fit_framing(matches, False, what, detector)
    result = {"framing": eyes.to_dict(), "summary": summarize(matches, eyes),
              "box_only": {"framing": box.to_dict(), "summary": summarize(matches, box)}}
    fileio.write_json(out, result)
    return result


# Fits that ship in the package (edge_age/reference/), by detector name: `--framing mtcnn`.
BUNDLED_FITS = {"mtcnn": "framing_mtcnn.json", "blazeface": "framing_blazeface.json"}
FIT_FILE = "framing.json"  # what `data framing --out DIR` writes into DIR


def fit_path(name: str | Path) -> Path:
    """A fit named on the command line: a bundled fit's detector name, a ``data framing`` output folder,
    or the JSON file itself."""
    from edge_age.formats import bundled_reference

    path = Path(name)
    if not path.exists() and str(name) in BUNDLED_FITS:
        return bundled_reference().parent / BUNDLED_FITS[str(name)]
    return path / FIT_FILE if path.is_dir() else path


def load_fit(path: str | Path) -> tuple[Framing, dict[str, list[float]]]:
    """The framing and the jitter ranges (5th-95th percentile of each residual) of a ``data framing`` file
    (or of what :func:`fit_path` finds for ``path``)."""
    import json

    from edge_age.errors import EdgeAgeError

    path = fit_path(path)
    try:
        fit = json.loads(Path(path).read_text())
        framing = Framing.from_dict(fit["framing"])
        res = fit["summary"]["residuals"]
        jitter = {k: [res[k]["p05"], res[k]["p95"]] for k in JITTER_BOUNDS}
    except OSError as e:
        raise EdgeAgeError(f"cannot read the framing file ({e.strerror})", path) from None
    except (ValueError, KeyError, TypeError) as e:
        raise EdgeAgeError(f"not a framing file written by `edge-age data framing` ({e})", path) from None
    except EdgeAgeError as e:  # Framing's own check names the field; this names the file
        raise EdgeAgeError(e.reason, path) from None
    return framing, {k: _jitter_range(k, lo, hi, path) for k, (lo, hi) in jitter.items()}


# What a fit's residual ranges (5th-95th percentile) may span: training jitters every crop across them, so a
# range beyond these is a broken fit, not a detector's error (crops of half or twice the face's side, shifts
# of half a side, quarter turns frame no face). The bundled fits stay well inside (scale 0.86-1.11, shifts
# within 0.04, angles within 7 degrees). Scale: open interval; shifts (chip sides) and angle (degrees): closed.
JITTER_BOUNDS = {"scale": (0.5, 2.0), "shift_x": (-0.5, 0.5), "shift_y": (-0.5, 0.5), "angle": (-45.0, 45.0)}


def _jitter_range(key: str, lo: Any, hi: Any, path: Path) -> list[float]:
    """One residual's [p05, p95], checked: finite numbers, low <= high, within :data:`JITTER_BOUNDS`."""
    from edge_age.errors import EdgeAgeError

    field = f"summary.residuals.{key}"
    for name, v in (("p05", lo), ("p95", hi)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise EdgeAgeError(f"{field}.{name} must be a finite number, got {v!r}", path)
    a, b = JITTER_BOUNDS[key]
    if lo > hi:
        raise EdgeAgeError(f"{field}: p05 {lo} is above p95 {hi}", path)
    inside = a < lo and hi < b if key == "scale" else a <= lo and hi <= b
    if not inside:
        raise EdgeAgeError(f"{field}: range [{lo}, {hi}] is outside {a}..{b}, beyond any plausible framing "
                           "error (training would jitter crops off the face)", path)
    return [float(lo), float(hi)]
