"""Age metrics over estimates and true ages: MAE, RMSE, CS@5 (share of faces within 5 years), MAE per
decade and age band, gate rates, and the coverage of a card's intervals. Imports no torch."""

from __future__ import annotations

from typing import Any

import numpy as np

from edge_age.eval.assurance import GATE_THRESHOLDS, challenge_25, gate_point
from edge_age.runtime import intervals
from edge_age.runtime.card import file_entry

DECADES = [f"{10 * i}-{10 * i + 9}" for i in range(10)] + ["100+"]
# Age bands as age-assurance buyers read them (children, the 13-17 gate, young adults, ...).
AGE_BANDS = [(0, 12), (13, 17), (18, 24), (25, 34), (35, 44), (45, 59), (60, 200)]


def band_name(lo: int, hi: int) -> str:
    return f"{lo}+" if hi >= 200 else f"{lo}-{hi}"


def decade_of(ages: np.ndarray) -> np.ndarray:
    return np.clip(np.floor(np.asarray(ages) / 10).astype(int), 0, len(DECADES) - 1)


def age_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """Regression metrics of predictions ``p`` against true ages ``y``."""
    y = np.asarray(y, dtype=np.float64)
    p = np.asarray(p, dtype=np.float64)
    if y.shape != p.shape or y.size == 0:
        raise ValueError(f"need equal, non-empty arrays, got {y.shape} and {p.shape}")
    err = p - y
    dec = decade_of(y)
    per_decade = _mae_by_group(err, {DECADES[d]: dec == d for d in range(len(DECADES))})
    per_band = _mae_by_group(err, {band_name(lo, hi): (y >= lo) & (y < hi + 1) for lo, hi in AGE_BANDS})
    return {
        "n": int(y.size),
        "mae": float(np.abs(err).mean()),
        "rmse": float(np.sqrt((err**2).mean())),
        "cs5": float((np.abs(err) <= 5).mean()),
        "bias": float(err.mean()),
        "pred_std": float(p.std()),
        "mae_per_decade": per_decade,
        "mae_per_band": per_band,
        "gates": {f"under_{t}": gate_point(y, p, t) for t in GATE_THRESHOLDS},
        "challenge_25": challenge_25(y, p),
    }


def _mae_by_group(err: np.ndarray, groups: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """Count, MAE and bias (mean estimate minus true age) of each non-empty group (a boolean mask over ``err``),
    in the given order."""
    return {name: {"n": int(sel.sum()), "mae": float(np.abs(err[sel]).mean()), "bias": float(err[sel].mean())}
            for name, sel in groups.items() if sel.any()}


def decade_confusion(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    m = np.zeros((len(DECADES), len(DECADES)), dtype=int)
    np.add.at(m, (decade_of(y), decade_of(p)), 1)
    return m


def format_metrics(m: dict[str, Any], title: str) -> str:
    lines = [title, f"  n {m['n']}  MAE {m['mae']:.3f}  RMSE {m['rmse']:.3f}  CS@5 {m['cs5']:.3f}  bias {m['bias']:+.2f}"]
    for label, key in (("decade", "mae_per_decade"), ("band", "mae_per_band")):
        lines.append(f"  {label:<7}  n      MAE    bias")
        lines += [f"  {group:<7}{v['n']:>5}  {v['mae']:7.2f}  {v.get('bias', float('nan')):+6.2f}"
                  for group, v in m[key].items()]
    rate = lambda r: "n/a" if r is None else f"{r:.3f}"  # noqa: E731
    ci = lambda c: "" if not c else f" [{c[0]:.3f}, {c[1]:.3f}]"  # noqa: E731
    for g in m["gates"].values():
        lines.append(f"  under {g['threshold']}: TPR {rate(g['tpr'])}{ci(g['tpr_ci95'])} ({g['positives']} under)  "
                     f"FPR {rate(g['fpr'])}{ci(g['fpr_ci95'])} ({g['negatives']} others)")
        if g.get("buffer_threshold") is not None:
            lines.append(f"    buffer: estimated >= {g['buffer_threshold']:.1f} for 99% of those under "
                         f"{g['threshold']}; it challenges {rate(g['buffer_fpr'])}{ci(g['buffer_fpr_ci95'])} of others")
    iv = m.get("interval")
    if iv:
        rho = iv.get("width_error_spearman")
        lines.append(f"  {iv['level']:.0%} interval: {iv['coverage']:.3f} of true ages inside (mean width "
                     f"{iv['mean_width']:.1f} years" + ("" if rho is None else f", width-error Spearman {rho:.2f}")
                     + "); per band " + ", ".join(
                         f"{b} {v['coverage']:.2f}" for b, v in iv["per_band"].items()))
    c25 = m.get("challenge_25") or {}
    if c25.get("n"):
        lines.append(f"  Challenge 25: {rate(c25['tpr'])}{ci(c25['tpr_ci95'])} of {c25['n']} 13-17-year-olds "
                     "estimated under 25")
    bg = m.get("by_group")
    if bg and bg.get("worst"):
        worst = next(r for r in bg["groups"] if r["group"] == bg["worst"])
        lines.append(f"  worst group {bg['worst']}: MAE {worst['mae']:.2f}{ci(worst['mae_ci95'])} (n {worst['n']}); "
                     f"best {bg['best']}; gap {bg['gap']:.2f}{ci(bg['gap_ci95'])}")
    return "\n".join(lines)


def source_metrics(y: np.ndarray, p: np.ndarray, source: np.ndarray, labels: tuple[str, ...],
                   bounds: "Bounds") -> dict[str, dict[str, Any]]:
    """Each source's metrics (as :func:`age_metrics`, with its interval coverage) for data of several sources;
    ``source`` is each face's source number."""
    out = {}
    for k, label in enumerate(labels):
        sel = source == k
        if not sel.any():
            continue
        m = age_metrics(y[sel], p[sel])
        if bounds is not None:
            m["interval"] = coverage_of(y[sel], (bounds[0], bounds[1][sel], bounds[2][sel]), p[sel])
        out[label] = m
    return out


def young_bias(m: dict[str, Any]) -> float | None:
    """The mean bias over true ages 0-17 (the 0-12 and 13-17 bands, weighted by their faces) of an
    :func:`age_metrics` result; None when it has no face under 18."""
    young = [m["mae_per_band"][b] for b in ("0-12", "13-17") if b in m["mae_per_band"]]
    n = sum(v["n"] for v in young)
    return sum(v["bias"] * v["n"] for v in young) / n if n else None


def format_sources(by_source: dict[str, dict[str, Any]]) -> str:
    """One line per source: n, MAE, bias, under-18 bias, the under-18 gate, Challenge 25 and interval coverage."""
    rate = lambda r: "n/a" if r is None else f"{r:.3f}"  # noqa: E731
    lines = []
    for label, m in by_source.items():
        u18 = "n/a" if (b := young_bias(m)) is None else f"{b:+.2f}"
        g = m["gates"].get("under_18", {})
        iv = m.get("interval")
        lines.append(f"  source {label}: n {m['n']}  MAE {m['mae']:.3f}  bias {m['bias']:+.2f}  under-18 bias {u18}  "
                     f"under 18 TPR {rate(g.get('tpr'))} FPR {rate(g.get('fpr'))}  Challenge 25 "
                     f"{rate((m.get('challenge_25') or {}).get('tpr'))}"
                     + (f"  {iv['level']:.0%} interval {iv['coverage']:.3f}" if iv else ""))
    return "\n".join(lines)


# the card's fitted interval entry and the low and high end for each estimate; None: the card has none
Bounds = tuple[dict[str, Any], np.ndarray, np.ndarray] | None


def card_bounds(predictor: Any, p: np.ndarray) -> Bounds:
    """The card's fitted intervals and each estimate's bounds (None when the file's card has none)."""
    fitted = (file_entry(predictor) or {}).get("interval")
    return (fitted, *intervals.interval(p, fitted)) if fitted else None


def coverage_of(y: np.ndarray, bounds: Bounds, p: np.ndarray | None = None) -> dict[str, Any] | None:
    if bounds is None:
        return None
    fitted, lo, hi = bounds
    return {"level": fitted["level"], **intervals.coverage(y, lo, hi, AGE_BANDS, p)}


def interval_metrics(predictor: Any, y: np.ndarray, p: np.ndarray) -> dict[str, Any] | None:
    """Coverage of the card's per-face intervals (None when the file's card has none)."""
    return coverage_of(y, card_bounds(predictor, p), p)
