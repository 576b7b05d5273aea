"""``edge-age eval``: score any model file (checkpoint, ONNX, TFLite) on a split, with plots, metrics.json,
predictions.csv and, on request, the assurance report. Every artifact is scored by this same code.
Imports no torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from edge_age import fileio, plots
from edge_age.errors import EdgeAgeError
from edge_age.eval.assurance import by_group, label_groups, utkface_groups
from edge_age.eval.config import EvalConfig
from edge_age.eval.metrics import (DECADES, Bounds, age_metrics, card_bounds, coverage_of, decade_confusion,
                                   format_metrics, format_sources, source_metrics)
from edge_age.runtime.batch import predict_all
from edge_age.runtime.flip import averages_mirror
from edge_age.runtime.outputs import not_an_age


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


def _check_outputs(cfg: EvalConfig) -> None:
    """A bad output path is a one-line error before any work."""
    if cfg.json:
        fileio.check_target(Path(cfg.json))
    if cfg.report:
        report = Path(cfg.report)
        if report.exists() and not report.is_dir():
            raise EdgeAgeError("--report names a folder; this is a file", report)
        fileio.check_target(report / "report.md")


def _scored_faces(cfg: EvalConfig, predictor: Any, progress: bool, log: Callable[[str], None]) -> tuple[Any, Any, np.ndarray]:
    """The data the model is scored on (its own training data unless --data), loaded at its input size,
    and the indices of the asked split."""
    from edge_age.data.dataset import DataConfig, config_for_model, load_dataset

    data = config_for_model(predictor.data_config, cfg.data, cfg.scheme, cfg.detect_faces, cfg.seed, cfg.limit)
    if predictor.data_config and (note := DataConfig.from_dict(predictor.data_config).dropped_detection(data)):
        log(note)
    splits = None if cfg.split == "all" else (cfg.split,)
    ds = load_dataset(data, predictor.spec, cache_dir=Path(cfg.cache_dir) if cfg.cache_dir else None,
                      progress=progress, splits=splits)
    idx = ds.indices(cfg.split)
    if len(idx) == 0:
        raise EdgeAgeError(f"the {cfg.split} split is empty", data.path)
    return data, ds, idx


def _with_ages(model: str | Path, names: list[str], y: np.ndarray, p: np.ndarray,
               log: Callable[[str], None]) -> tuple[list[str], np.ndarray, np.ndarray, list[dict[str, str]]]:
    """The faces the model gave an age: a NaN or infinite output is an error of that face, left out of every
    metric, named in ``model_errors`` (and logged); a model that gave no face an age is an error."""
    reasons = [not_an_age(a) for a in p]
    errors = [{"name": n, "error": r} for n, r in zip(names, reasons) if r]
    if not errors:
        return names, y, p, errors
    if len(errors) == len(names):
        raise EdgeAgeError(f"the model gave no age for any of the {len(names)} faces ({errors[0]['error']}; "
                           f"first: {errors[0]['name']})", Path(model))
    log(f"  {len(errors)} face(s) without an age left out of every metric ({errors[0]['error']}; first: "
        f"{errors[0]['name']}; all in model_errors of metrics.json)")
    keep = np.array([r is None for r in reasons])
    return [n for n, k in zip(names, keep) if k], y[keep], p[keep], errors


def by_degradation(cfg: EvalConfig, predictor: Any, data: Any, ds: Any, names: list[str],
                   y: np.ndarray) -> dict[str, Any]:
    """The split's images again under each photo degradation (and as they are, the same images): MAE, bias and the
    card's interval coverage per kind, for ``eval --degrade``."""
    from edge_age.eval.degraded import degraded_faces

    if ds.source is not None:
        raise EdgeAgeError("--degrade scores one dataset at a time: give one --data")
    sets, photos, unreadable = degraded_faces(ds.labeled.container.read, ds.labeled.display, list(zip(names, y)),
                                              predictor.spec, bool(data.detect_faces), cfg.degrade_limit, keep_none=True)
    out = {}
    for kind, (faces, ages) in sets.items():
        p = predict_all(predictor, faces, cfg.batch_size, progress=False)
        ok = np.isfinite(p)
        row = {k: v for k, v in age_metrics(ages[ok], p[ok]).items() if k in ("n", "mae", "bias")}
        iv = coverage_of(ages[ok], card_bounds(predictor, p[ok]), p[ok])
        out["as they are" if kind == "none" else kind] = {**row, "found": round(len(ages) / max(photos - unreadable, 1), 4),
                                                         **({"interval": iv} if iv else {})}
    return {"photos": photos, "unreadable": unreadable, "kinds": out}


def format_degradations(d: dict[str, Any]) -> str:
    lines = [f"  under photo degradations ({d['photos']} images spread over the split; faces found, MAE, bias, "
             "80% coverage, mean width, width-error Spearman):"]
    for kind, r in d["kinds"].items():
        iv = r.get("interval") or {}
        rho = iv.get("width_error_spearman")
        lines.append(f"    {kind:26s} {r['found']:.1%}  MAE {r['mae']:.2f}  bias {r['bias']:+.2f}"
                     + (f"  coverage {iv['coverage']:.3f}  width {iv['mean_width']:.1f}"
                        f"  rho {'-' if rho is None else f'{rho:.2f}'}" if iv else ""))
    return "\n".join(lines)


def _metrics(predictor: Any, ds: Any, names: list[str], y: np.ndarray, p: np.ndarray) -> tuple[dict[str, Any], Bounds]:
    """Every figure of the scored faces: ages, the card's interval coverage, groups and sources; and the bounds."""
    m = age_metrics(y, p)
    bounds = card_bounds(predictor, p)  # once: for the coverage and for predictions.csv
    interval = coverage_of(y, bounds, p)
    if interval:
        m["interval"] = interval
    groups = label_groups(ds.labeled.groups, names) or utkface_groups(names)
    if groups:
        m["by_group"] = by_group(y, p, groups)
    if ds.source is not None:
        source_of = dict(zip(ds.faces.names, ds.source))
        m["by_source"] = source_metrics(y, p, np.array([source_of[n] for n in names]), ds.source_labels, bounds)
    return m, bounds


def evaluate(cfg: EvalConfig, progress: bool = True, command: str = "",
             log: Callable[[str], None] = print) -> dict[str, Any]:
    """Score ``cfg.model`` on a split of its dataset (or ``cfg.data``); writes the plots, metrics.json and
    predictions.csv into ``cfg.out_dir()`` (and ``cfg.json``) and returns what was written."""
    from edge_age.runtime import load_predictor

    _check_outputs(cfg)
    predictor = load_predictor(cfg.model, threads=cfg.threads or None, flip_average=cfg.flip_average, framing=cfg.framing)
    data, ds, idx = _scored_faces(cfg, predictor, progress, log)
    names = [ds.faces.names[i] for i in idx]
    p = predict_all(predictor, ds.faces.faces[idx], cfg.batch_size, progress=progress)
    names, y, p, errors = _with_ages(cfg.model, names, ds.faces.ages[idx], p, log)
    m, bounds = _metrics(predictor, ds, names, y, p)
    where = data.path if ds.source is None else " + ".join(ds.source_labels)
    title = f"{predictor.name} on {where} [{cfg.split}]"
    log(format_metrics(m, title))
    if ds.source is not None:
        log(format_sources(m["by_source"]))
    if cfg.degrade:
        m["by_degradation"] = by_degradation(cfg, predictor, data, ds, names, y)
        log(format_degradations(m["by_degradation"]))
    if ds.problems:
        log(f"  skipped {len(ds.problems)} item(s) with problems (first: {ds.problems[0]})")
    out_dir = cfg.out_dir()
    scatter = plots.scatter_true_pred(y, p, out_dir / "scatter.png", f"{title}\nMAE {m['mae']:.2f}")
    conf = plots.confusion(decade_confusion(y, p), DECADES, out_dir / "confusion.png", title)
    result = {"command": command, "model": str(cfg.model), "runtime": predictor.runtime,
              "flip_average": averages_mirror(predictor), "data": data.to_dict(), "split": cfg.split, "metrics": m,
              "skipped": len(ds.problems), **({"model_errors": errors} if errors else {}),
              "plots": [str(x) for x in (scatter, conf) if x is not None]}
    if cfg.json:
        fileio.write_json(cfg.json, result)
    fileio.write_json(out_dir / "metrics.json", result)
    fileio.write_csv(out_dir / "predictions.csv", face_rows(names, y, p, bounds))
    if cfg.report:
        from edge_age.eval.report import write_report

        log(f"  report: {write_report(Path(cfg.report), result, y, p)}")
    log(f"  plots, metrics.json and predictions.csv in {out_dir}" if result["plots"]
        else f"  metrics.json and predictions.csv in {out_dir}; {plots.MISSING}")
    return result
