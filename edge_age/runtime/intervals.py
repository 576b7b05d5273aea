"""Per-face 80% age intervals: conformal, calibrated on val faces per predicted-age band.

Any model file gets them, whatever its head: the card stores, per file and per band of the *predicted*
age, the 10th and 90th percentiles of that file's own val errors (int8 files err differently from
float ones), and a face's interval is its age minus those. Conditioning on the predicted age (what is
known at run time) widens the interval where the model is less sure: a 45-year-old estimate carries
a wider interval than a 5-year-old one.

A card may also store a ``scale``: points (estimate, mean |error| of val faces estimated near it), and then the
band percentiles are of error / scale (normalised conformal), so the width grows with the estimate continuously
instead of in seven steps: a child estimated at 11 gets a wider interval than a baby estimated at 1, though both
sit in the 0-12 band (``edge-age calibrate``, lab/interval_methods.json). Imports no torch.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

LEVEL = 0.8
# Predicted-age bands (lower edges); a band with fewer val faces than MIN_BAND uses all val faces.
BAND_EDGES = (0, 13, 18, 25, 35, 45, 60)
MIN_BAND = 50
Z80 = 1.2816  # the normal quantile whose two-sided interval holds 80%: std = half-width / Z80


def _band(ages: np.ndarray, edges: Any = BAND_EDGES) -> np.ndarray:
    return np.searchsorted(np.asarray(edges[1:]), np.asarray(ages), side="right")


def _quantiles(err: np.ndarray, level: float, weights: np.ndarray | None = None) -> list[float]:
    """Err order statistics for a two-sided split-conformal interval: the floor(t(n+1))-th smallest and the
    ceil((1-t)(n+1))-th smallest (t the tail share), never an interpolation between two errors, which
    would narrow the interval and under-cover at small n. Rounded outwards to the stored precision.

    With ``weights`` (mean 1: :func:`set_weights`), counts become summed weights and the face to come weighs the
    mean, 1, at either end (weighted split conformal); weights that are all equal are the unweighted case."""
    err = np.asarray(err, np.float64)
    order = np.argsort(err, kind="stable")
    s = err[order]
    n = s.size
    tail = (1 - level) / 2
    w = None if weights is None else np.asarray(weights, np.float64)[order]
    if w is None or np.ptp(w) <= 1e-12 * w.max():  # equal weights (w / w.mean() need not be exactly 1.0)
        k_lo = int(np.floor(tail * (n + 1)))  # 1-based; 0: below every error
        k_hi = int(np.ceil((1 - tail) * (n + 1)))  # n + 1: above every error
    else:
        cum, total = np.cumsum(w), float(w.sum()) + 1.0
        # the largest k whose errors strictly below it, with the face to come, weigh at most t(W+1); the smallest k
        # whose errors up to it weigh at least (1-t)(W+1): with unit weights floor(t(n+1)) and ceil((1-t)(n+1))
        k_lo = int(np.searchsorted(cum - w + 1.0, tail * total, side="right"))
        k_hi = int(np.searchsorted(cum, (1 - tail) * total, side="left")) + 1
    lo = s[k_lo - 1] if k_lo >= 1 else s[0]
    hi = s[k_hi - 1] if k_hi <= n else s[-1]
    return [float(np.floor(lo * 1000) / 1000), float(np.ceil(hi * 1000) / 1000)]


def set_weights(sizes: list[int], floor: int = MIN_BAND) -> np.ndarray:
    """Per-face weights under which each of several pooled sets counts equally, rescaled to mean 1 over the faces: a
    calibration pool of 3,500 clean faces and 600 of each degradation would otherwise be fitted to the clean ones. A
    set of fewer than ``floor`` faces weighs as ``floor`` faces would in all: 20 photos must not decide half of every
    width on their own."""
    sizes = [int(n) for n in sizes]
    w = np.concatenate([np.full(n, 1.0 / max(n, floor)) for n in sizes if n]) if any(sizes) else np.zeros(0)
    return w * (w.size / w.sum()) if w.size else w


def _band_quantiles(pred: np.ndarray, score: np.ndarray, level: float,
                    weights: np.ndarray | None = None) -> list[dict[str, Any]]:
    band = _band(pred)
    overall = _quantiles(score, level, weights)
    bands = []
    for b, lo in enumerate(BAND_EDGES):
        sel = band == b
        bands.append({"from": lo, "n": int(sel.sum()),
                      "err": _quantiles(score[sel], level, None if weights is None else weights[sel] / weights[sel].mean())
                      if sel.sum() >= MIN_BAND else overall})
    return bands


def fit(pred: np.ndarray, true: np.ndarray, level: float = LEVEL) -> dict[str, Any]:
    """What a card stores for one file, from its predictions on val."""
    err = np.asarray(pred, np.float64) - np.asarray(true, np.float64)
    return {"level": level, "method": "split conformal per predicted-age band, val split",
            "bands": _band_quantiles(np.asarray(pred, np.float64), err, level)}


# Estimates binned to fit the scale (lower edges); each bin's mean |error| is placed at its middle.
SCALE_EDGES = (0, 3, 6, 10, 15, 20, 25, 30, 40, 50, 60, 75, 90, 120)
MIN_SCALE_BIN = 30  # faces a bin needs for its own mean; fewer: interpolated from its neighbours
SCALE_FLOOR = 0.5  # years: a bin of perfect estimates must not make every width zero
FOLDS = 5  # fit_scaled's cross-fit: 10 were no steadier on the reference's pool (lab/interval_split_noise.py)


def own_bins(pred: np.ndarray) -> list[bool]:
    """Which of the scale's bins hold enough estimates (MIN_SCALE_BIN) for a mean of their own."""
    pred = np.asarray(pred, np.float64)
    return [int(((pred >= lo) & (pred < hi)).sum()) >= MIN_SCALE_BIN for lo, hi in zip(SCALE_EDGES, SCALE_EDGES[1:])]


def fit_scale(pred: np.ndarray, err: np.ndarray, weights: np.ndarray | None = None,
              own: list[bool] | None = None) -> list[list[float]]:
    """The scale's points: (a bin's middle, the mean |error| of the faces estimated in it, at least SCALE_FLOOR;
    weighted by ``weights`` where given); a bin without a mean of its own (:func:`own_bins` of these faces, or
    ``own`` decided on a larger pool, as a cross-fit's folds take the whole pool's) interpolated from its neighbours."""
    pred, err = np.asarray(pred, np.float64), np.abs(np.asarray(err, np.float64))
    w = np.ones_like(pred) if weights is None else np.asarray(weights, np.float64)
    own = own_bins(pred) if own is None else own
    mids, means = [], []
    for (lo, hi), mine in zip(zip(SCALE_EDGES, SCALE_EDGES[1:]), own):
        sel = (pred >= lo) & (pred < hi)
        mids.append((lo + hi) / 2.0)
        means.append(max(SCALE_FLOOR, float(np.average(err[sel], weights=w[sel]))) if mine and sel.any() else None)
    known = [(m, v) for m, v in zip(mids, means) if v is not None]
    if not known:  # too few faces for any bin: one flat scale (the plain per-band method, in other units)
        return [[float(np.median(pred)) if pred.size else 0.0,
                 max(SCALE_FLOOR, float(np.average(err, weights=w)) if err.size else 1.0)]]
    xs, vs = zip(*known)
    return [[m, round(v if v is not None else float(np.interp(m, xs, vs)), 4)] for m, v in zip(mids, means)]


def scale_at(points: list[list[float]], ages: np.ndarray) -> np.ndarray:
    """The scale at each estimate: linear between the points, flat beyond the first and the last."""
    xs, vs = np.asarray(points, np.float64).T
    return np.interp(np.asarray(ages, np.float64), xs, vs)


def fit_scaled(pred: np.ndarray, true: np.ndarray, level: float = LEVEL, seed: int = 0,
               calibrated_on: list[dict[str, Any]] | None = None, weights: np.ndarray | None = None,
               folds: int = FOLDS) -> dict[str, Any]:
    """Normalised conformal, cross-fitted: the faces fall into ``folds`` seeded folds (one per face under
    ``folds`` faces); each face's error / scale uses a scale fitted on the other folds, so no face's score comes
    from a scale that saw it, and every face gives one; the card's scale is fitted on all of them, with the same
    bins of its own. Coverage is then near the level but without split conformal's finite-sample promise (a
    cross-fit's worst case is twice the miss rate). A single half split threw half the faces out of each fit, and
    which half was luck: a pool that changed by a few faces redrew it and moved test coverage by up to 0.03 per
    input kind (lab/interval_split_noise.json: 20 draws); cross-fitted, by 0.01 or less. ``weights``
    (:func:`set_weights`): each face's weight in both fits."""
    pred, err = np.asarray(pred, np.float64), np.asarray(pred, np.float64) - np.asarray(true, np.float64)
    if pred.size < 2:
        raise ValueError(f"a cross-fitted interval needs at least 2 faces, got {pred.size}")
    w = np.ones_like(pred) if weights is None else np.asarray(weights, np.float64)
    folds, own = max(2, min(folds, pred.size)), own_bins(pred)
    fold = np.random.default_rng(seed).permutation(pred.size) % folds
    score = np.empty_like(err)
    for k in range(folds):
        held = fold == k
        score[held] = err[held] / scale_at(fit_scale(pred[~held], err[~held], w[~held], own), pred[held])
    method = f"conformal on error / scale per predicted-age band (normalised, {folds}-fold cross-fitted)"
    out = {"level": level, "method": method + ("" if weights is None else ", each calibration set weighted equally"),
           "scale": fit_scale(pred, err, None if weights is None else w, own),
           "bands": _band_quantiles(pred, score, level, None if weights is None else w / w.mean())}
    if calibrated_on is not None:
        out["calibrated_on"] = calibrated_on
    return out


def interval(ages: np.ndarray, fitted: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper ends of each age's interval (never below 0)."""
    ages = np.asarray(ages, np.float64)
    bands = fitted["bands"]  # the card's own edges: a card fitted with other bands stays right
    err = np.asarray([b["err"] for b in bands])[_band(ages, [b["from"] for b in bands])]
    scale = scale_at(fitted["scale"], ages) if fitted.get("scale") else 1.0
    return np.maximum(ages - err[:, 1] * scale, 0.0), np.maximum(ages - err[:, 0] * scale, 0.0)


def valid(lo: float, hi: float) -> bool:
    """Whether ``[lo, hi]`` is an interval: both ends finite and ``lo <= hi``."""
    return math.isfinite(lo) and math.isfinite(hi) and lo <= hi


def within(lo: float, hi: float, max_width: float) -> bool:
    """Whether a face's interval passes a ``--max-uncertainty`` gate of ``max_width`` years: a valid interval
    (:func:`valid`) at most that wide. Never ``hi - lo > max_width`` alone: NaN compares false with
    everything, and an inverted interval is negatively wide, so both would pass as sure."""
    return valid(lo, hi) and hi - lo <= max_width


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks with ties given their mean rank: widths come in a few values, so ties are the rule."""
    _, inverse, counts = np.unique(x, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - (counts - 1) / 2.0) - 1)[inverse.reshape(-1)]


def spearman(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's rank correlation (ties averaged); None where either side is constant or too short."""
    ra, rb = _ranks(np.asarray(a, np.float64)), _ranks(np.asarray(b, np.float64))
    if ra.size < 3 or ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def coverage(true: np.ndarray, lo: np.ndarray, hi: np.ndarray, bands: list[tuple[int, int]],
             pred: np.ndarray | None = None) -> dict[str, Any]:
    """Share of true ages inside their interval, overall and per true-age band, and the mean width; with the
    estimates, also how well width tracks the error (Spearman of width with |error|: an interval that widens
    where the model errs more scores near 1, one width for every face scores nothing)."""
    true = np.asarray(true, np.float64)
    inside = (true >= lo) & (true <= hi)
    per_band = {}
    for a, b in bands:
        sel = (true >= a) & (true < b + 1)
        if sel.any():
            per_band[f"{a}+" if b >= 200 else f"{a}-{b}"] = {"n": int(sel.sum()), "coverage": round(float(inside[sel].mean()), 4)}
    out = {"coverage": round(float(inside.mean()), 4), "mean_width": round(float((hi - lo).mean()), 3),
           "per_band": per_band}
    if pred is not None:
        rho = spearman(np.asarray(hi) - np.asarray(lo), np.abs(np.asarray(pred, np.float64) - true))
        out["width_error_spearman"] = None if rho is None else round(rho, 3)
    return out
