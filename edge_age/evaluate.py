"""Metrics and plots over any predictor (seed 004). Imports no torch.

MAE, RMSE, CS@5 (share of faces within 5 years), MAE per decade, a true-vs-predicted scatter and a
decade confusion matrix. Every artifact (checkpoint, ONNX, TFLite) is scored by this same code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from edge_age import fileio, intervals, plots
from edge_age.assurance import GATE_THRESHOLDS, by_group, challenge_25, gate_point, label_groups, utkface_groups
from edge_age.errors import EdgeAgeError
from edge_age.eval_config import EvalConfig
from edge_age.runtime.card import file_entry
from edge_age.runtime.flip import averages_mirror

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
    """Count and MAE of each non-empty group (a boolean mask over ``err``), in the given order."""
    return {name: {"n": int(sel.sum()), "mae": float(np.abs(err[sel]).mean())} for name, sel in groups.items()
            if sel.any()}


def decade_confusion(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    m = np.zeros((len(DECADES), len(DECADES)), dtype=int)
    np.add.at(m, (decade_of(y), decade_of(p)), 1)
    return m


def predict_all(predictor: Any, faces: np.ndarray, batch_size: int = 64, progress: bool = True) -> np.ndarray:
    from tqdm import tqdm

    out = []
    for i in tqdm(range(0, len(faces), batch_size), desc=f"predicting {predictor.name}", leave=False,
                  disable=not progress, dynamic_ncols=True):
        out.append(np.asarray(predictor.predict(np.asarray(faces[i : i + batch_size])), dtype=np.float32).reshape(-1))
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def format_metrics(m: dict[str, Any], title: str) -> str:
    lines = [title, f"  n {m['n']}  MAE {m['mae']:.3f}  RMSE {m['rmse']:.3f}  CS@5 {m['cs5']:.3f}  bias {m['bias']:+.2f}"]
    for label, key in (("decade", "mae_per_decade"), ("band", "mae_per_band")):
        lines.append(f"  {label:<7}  n      MAE")
        lines += [f"  {group:<7}{v['n']:>5}  {v['mae']:7.2f}" for group, v in m[key].items()]
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
        lines.append(f"  {iv['level']:.0%} interval: {iv['coverage']:.3f} of true ages inside (mean width "
                     f"{iv['mean_width']:.1f} years); per band " + ", ".join(
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


# the card's fitted interval entry and the low and high end for each estimate; None: the card has none
Bounds = tuple[dict[str, Any], np.ndarray, np.ndarray] | None


def _card_bounds(predictor: Any, p: np.ndarray) -> Bounds:
    """The card's fitted intervals and each estimate's bounds (None when the file's card has none)."""
    fitted = (file_entry(predictor) or {}).get("interval")
    return (fitted, *intervals.interval(p, fitted)) if fitted else None


def _coverage(y: np.ndarray, bounds: Bounds) -> dict[str, Any] | None:
    if bounds is None:
        return None
    fitted, lo, hi = bounds
    return {"level": fitted["level"], **intervals.coverage(y, lo, hi, AGE_BANDS)}


def interval_metrics(predictor: Any, y: np.ndarray, p: np.ndarray) -> dict[str, Any] | None:
    """Coverage of the card's per-face intervals (None when the file's card has none)."""
    return _coverage(y, _card_bounds(predictor, p))


def face_rows(names: list[str], y: np.ndarray, p: np.ndarray, bounds: Bounds) -> list[dict[str, Any]]:
    """One row per scored face (file name, true age, estimate, error and the card's interval where it
    has one), so a user can look at the faces behind a metric: which teenagers a gate let through.
    Rounded to 4 places, finer than any gate or band edge the metrics draw."""
    rows = []
    for i, name in enumerate(names):
        row = {"name": name, "age": round(float(y[i]), 4), "estimate": round(float(p[i]), 4),
               "error": round(float(p[i] - y[i]), 4)}
        if bounds is not None:
            row.update(interval_lo=round(float(bounds[1][i]), 4), interval_hi=round(float(bounds[2][i]), 4))
        rows.append(row)
    return rows


def evaluate(cfg: EvalConfig, progress: bool = True, command: str = "",
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """Score ``cfg.model`` on a split of its dataset (or ``cfg.data``); writes the plots, metrics.json and
    predictions.csv into ``cfg.out_dir()`` (and ``cfg.json``) and returns what was written."""
    from edge_age.data.dataset import DataConfig, config_for_model, load_dataset
    from edge_age.runtime import load_predictor

    if cfg.json:
        fileio.check_target(Path(cfg.json))  # a bad output path is a one-line error before any work
    if cfg.report:
        report = Path(cfg.report)
        if report.exists() and not report.is_dir():
            raise EdgeAgeError("--report names a folder; this is a file", report)
        fileio.check_target(report / "report.md")
    predictor = load_predictor(cfg.model, threads=cfg.threads or None, flip_average=cfg.flip_average)
    data = config_for_model(predictor.data_config, cfg.data, cfg.scheme, cfg.detect_faces, cfg.seed, cfg.limit)
    if predictor.data_config and (note := DataConfig.from_dict(predictor.data_config).dropped_detection(data)):
        log(note)
    splits = None if cfg.split == "all" else (cfg.split,)
    ds = load_dataset(data, predictor.spec, cache_dir=Path(cfg.cache_dir) if cfg.cache_dir else None, progress=progress, splits=splits)
    idx = ds.indices(cfg.split)
    if len(idx) == 0:
        raise EdgeAgeError(f"the {cfg.split} split is empty", data.path)
    y = ds.faces.ages[idx]
    p = predict_all(predictor, ds.faces.faces[idx], cfg.batch_size, progress=progress)
    m = age_metrics(y, p)
    bounds = _card_bounds(predictor, p)  # once: for the coverage and for predictions.csv
    interval = _coverage(y, bounds)
    if interval:
        m["interval"] = interval
    names = [ds.faces.names[i] for i in idx]
    groups = label_groups(ds.labeled.groups, names) or utkface_groups(names)
    if groups:
        m["by_group"] = by_group(y, p, groups)
    title = f"{predictor.name} on {data.path} [{cfg.split}]"
    log(format_metrics(m, title))
    if ds.problems:
        log(f"  skipped {len(ds.problems)} item(s) with problems (first: {ds.problems[0]})")
    out_dir = cfg.out_dir()
    scatter = plots.scatter_true_pred(y, p, out_dir / "scatter.png", f"{title}\nMAE {m['mae']:.2f}")
    conf = plots.confusion(decade_confusion(y, p), DECADES, out_dir / "confusion.png", title)
    result = {"command": command, "model": str(cfg.model), "runtime": predictor.runtime,
              "flip_average": averages_mirror(predictor), "data": data.to_dict(), "split": cfg.split, "metrics": m,
              "skipped": len(ds.problems),
              "plots": [str(x) for x in (scatter, conf) if x is not None]}
    if cfg.json:
        fileio.write_json(cfg.json, result)
    fileio.write_json(out_dir / "metrics.json", result)
    fileio.write_csv(out_dir / "predictions.csv", face_rows(names, y, p, bounds))
    if cfg.report:
        from edge_age.assurance_report import write_report

        log(f"  report: {write_report(Path(cfg.report), result, y, p)}")
    log(f"  plots, metrics.json and predictions.csv in {out_dir}" if result["plots"]
        else f"  metrics.json and predictions.csv in {out_dir}; {plots.MISSING}")
    return result
