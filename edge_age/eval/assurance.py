"""Age assurance metrics: gate operating points and error by demographic group, with bootstrap CIs.

What buyers of an age check ask (and NIST's age-estimation evaluation reports): for "is this person
under T?", the TPR and FPR of "estimated under T"; the buffer threshold an operator needs so that at
most 1% of people under T are estimated above it (Challenge-25 policies), and the share of older
people it then challenges; and MAE and bias per group. Every rate has a 95% bootstrap interval
(seeded: the same data gives the same intervals). Imports no torch.
"""

from __future__ import annotations

import re
from itertools import product
from typing import Any

import numpy as np

GATE_THRESHOLDS = (13, 18, 21, 25)
BUFFER_MISS = 0.01  # at most this share of people under T may be estimated at or above the buffer
BOOTSTRAP = 1000
MIN_GROUP = 30  # a group smaller than this is reported but never named the worst

# UTKFace file names: age_gender_race_date.jpg.chip.jpg (gender 0 male, 1 female; race 0-4).
_UTK_GROUPS = re.compile(r"^\d+_([01])_([0-4])_")
GENDERS = {"0": "male", "1": "female"}
ETHNICITIES = {"0": "white", "1": "black", "2": "asian", "3": "indian", "4": "other"}


def utkface_groups(names: list[str]) -> dict[str, list[str | None]] | None:
    """Gender and ethnicity per face from UTKFace names; None when the names do not carry them."""
    found = [_UTK_GROUPS.match(n.rsplit("/", 1)[-1]) for n in names]
    if not any(found):
        return None
    return {"gender": [GENDERS[m.group(1)] if m else None for m in found],
            "ethnicity": [ETHNICITIES[m.group(2)] if m else None for m in found]}


def label_groups(groups_by_name: dict[str, dict[str, str]], names: list[str]) -> dict[str, list[str | None]] | None:
    """Group attributes from the labels (e.g. a CSV's gender/ethnicity columns) per face; None without any."""
    attrs = sorted({a for g in groups_by_name.values() for a in g}, key=lambda a: (a != "gender", a))
    if not attrs:
        return None
    return {a: [groups_by_name.get(n, {}).get(a) for n in names] for a in attrs}


def _ci(samples: np.ndarray) -> list[float] | None:
    samples = samples[np.isfinite(samples)]
    if samples.size == 0:
        return None
    lo, hi = np.percentile(samples, [2.5, 97.5])
    return [round(float(lo), 4), round(float(hi), 4)]


def _resample(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, (BOOTSTRAP, n))


def _rate(hit: np.ndarray, mask: np.ndarray) -> float:
    return float(hit[mask].mean()) if mask.any() else float("nan")


def buffer_threshold(under: np.ndarray) -> float:
    """The lowest estimate, in steps of 0.01 years, at or above which at most BUFFER_MISS of these people
    (all under the gate) fall: one step above the estimate of the last person who must be challenged.
    No interpolation between two people, which would let more than 1% through at small n."""
    s = np.sort(np.asarray(under, np.float64))
    allowed = int(np.floor(BUFFER_MISS * s.size + 1e-9))  # people who may stay at or above it
    return float(np.floor(s[s.size - allowed - 1] * 100 + 1) / 100)


def gate_point(y: np.ndarray, p: np.ndarray, t: int, seed: int = 0) -> dict[str, Any]:
    """``estimated under t``: TPR (people under t), FPR (people t or older), and the buffer threshold."""
    pos = y < t
    out: dict[str, Any] = {"threshold": t, "positives": int(pos.sum()), "negatives": int((~pos).sum())}
    idx = _resample(len(y), seed)
    yb, pb = y[idx], p[idx]
    posb = yb < t
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr_b = ((pb < t) & posb).sum(1) / posb.sum(1)
        fpr_b = ((pb < t) & ~posb).sum(1) / (~posb).sum(1)
    out.update(tpr=_round(_rate(p < t, pos)), tpr_ci95=_ci(tpr_b), fpr=_round(_rate(p < t, ~pos)), fpr_ci95=_ci(fpr_b))
    if pos.sum() >= 1 / BUFFER_MISS:  # the 99th percentile of fewer than 100 people is not an estimate
        buffer = buffer_threshold(p[pos])
        buf_b = np.asarray([buffer_threshold(pb[b][posb[b]]) if posb[b].sum() else np.nan for b in range(len(pb))])
        with np.errstate(invalid="ignore", divide="ignore"):
            cost_b = ((pb < buf_b[:, None]) & ~posb).sum(1) / (~posb).sum(1)
        out.update(buffer_threshold=buffer, buffer_threshold_ci95=_ci(buf_b), buffer_miss=_round(_rate(p >= buffer, pos)),
                   buffer_fpr=_round(_rate(p < buffer, ~pos)), buffer_fpr_ci95=_ci(cost_b))
    else:
        out.update(buffer_threshold=None, buffer_threshold_ci95=None, buffer_miss=None, buffer_fpr=None,
                   buffer_fpr_ci95=None)
    return out


def challenge_25(y: np.ndarray, p: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """The Challenge-25 check: the share of 13-17-year-olds estimated under 25."""
    teen = (y >= 13) & (y < 18)
    if not teen.any():
        return {"n": 0, "tpr": None, "tpr_ci95": None}
    hit = (p[teen] < 25).astype(float)
    boot = hit[_resample(len(hit), seed)].mean(1)
    return {"n": int(teen.sum()), "tpr": _round(hit.mean()), "tpr_ci95": _ci(boot)}


def by_group(y: np.ndarray, p: np.ndarray, groups: dict[str, list[str | None]], seed: int = 0) -> dict[str, Any]:
    """n, MAE (with CI) and bias per value of each attribute and per combination of two; the worst
    and best combined group (n >= MIN_GROUP) and the gap between them, with its CI."""
    err = p - y
    attrs = list(groups)  # as given: gender, then ethnicity
    cells: dict[str, np.ndarray] = {}
    for a in attrs:
        for v in sorted({g for g in groups[a] if g is not None}):
            cells[f"{a}={v}"] = np.asarray([g == v for g in groups[a]])
    for a, b in ((a, b) for i, a in enumerate(attrs) for b in attrs[i + 1:]):
        for va, vb in product(sorted({g for g in groups[a] if g}), sorted({g for g in groups[b] if g})):
            cells[f"{a}={va},{b}={vb}"] = np.asarray([ga == va and gb == vb for ga, gb in zip(groups[a], groups[b])])
    rows, boots = [], {}
    for k, (name, mask) in enumerate(cells.items()):
        e = np.abs(err[mask])
        if e.size == 0:
            continue
        boots[name] = e[_resample(e.size, seed + k)].mean(1)
        rows.append({"group": name, "n": int(e.size), "mae": _round(e.mean()), "mae_ci95": _ci(boots[name]),
                     "bias": _round(err[mask].mean())})
    # The finest groups: combinations, or the values of the one attribute there is.
    combined = [r for r in rows if ("," in r["group"] or len(attrs) == 1) and r["n"] >= MIN_GROUP]
    out: dict[str, Any] = {"groups": rows}
    if len(combined) >= 2:
        worst = max(combined, key=lambda r: r["mae"])
        best = min(combined, key=lambda r: r["mae"])
        out.update(worst=worst["group"], best=best["group"], gap=_round(worst["mae"] - best["mae"]),
                   gap_ci95=_ci(boots[worst["group"]] - boots[best["group"]]))
    return out


def _round(v: float) -> float | None:
    return None if v is None or not np.isfinite(v) else round(float(v), 4)
