"""Per-face 80% age intervals: split-conformal, calibrated on the val split per predicted-age band.

Any model file gets them, whatever its head: the card stores, per file and per band of the *predicted*
age, the 10th and 90th percentiles of that file's own val errors (int8 files err differently from
float ones), and a face's interval is its age minus those. Conditioning on the predicted age (what is
known at run time) widens the interval where the model is less sure: a 45-year-old estimate carries
a wider interval than a 5-year-old one. Imports no torch.
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


def _quantiles(err: np.ndarray, level: float) -> list[float]:
    """Err order statistics for a two-sided split-conformal interval: the floor(t(n+1))-th smallest and the
    ceil((1-t)(n+1))-th smallest (t the tail share), never an interpolation between two errors, which
    would narrow the interval and under-cover at small n. Rounded outwards to the stored precision."""
    s = np.sort(np.asarray(err, np.float64))
    n = s.size
    tail = (1 - level) / 2
    k_lo = int(np.floor(tail * (n + 1)))  # 1-based; 0: below every error
    k_hi = int(np.ceil((1 - tail) * (n + 1)))  # n + 1: above every error
    lo = s[k_lo - 1] if k_lo >= 1 else s[0]
    hi = s[k_hi - 1] if k_hi <= n else s[-1]
    return [float(np.floor(lo * 1000) / 1000), float(np.ceil(hi * 1000) / 1000)]


def fit(pred: np.ndarray, true: np.ndarray, level: float = LEVEL) -> dict[str, Any]:
    """What a card stores for one file, from its predictions on val."""
    err = np.asarray(pred, np.float64) - np.asarray(true, np.float64)
    band = _band(pred)
    overall = _quantiles(err, level)
    bands = []
    for b, lo in enumerate(BAND_EDGES):
        sel = band == b
        bands.append({"from": lo, "n": int(sel.sum()),
                      "err": _quantiles(err[sel], level) if sel.sum() >= MIN_BAND else overall})
    return {"level": level, "method": "split conformal per predicted-age band, val split", "bands": bands}


def interval(ages: np.ndarray, fitted: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper ends of each age's interval (never below 0)."""
    ages = np.asarray(ages, np.float64)
    bands = fitted["bands"]  # the card's own edges: a card fitted with other bands stays right
    err = np.asarray([b["err"] for b in bands])[_band(ages, [b["from"] for b in bands])]
    return np.maximum(ages - err[:, 1], 0.0), np.maximum(ages - err[:, 0], 0.0)


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
