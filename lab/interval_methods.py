"""Which 80% interval holds on the path a user takes? (issue 36 items 1-3, the measurement before the change.)

Scores one int8 file on every input kind of issue 36, once per split (val to fit, test to report): UTKFace's aligned
chips, UTKFace's faces in context through detection (`edge-age data wild`), each degradation of
`benchmarks/robustness.py` applied to those scenes (600 a split), and All-Age-Faces' head crops through detection
(another source's faces). Then fits each interval method on val only and reports, on test, coverage per input kind
and per true-age band, mean width, and the Spearman correlation of width with |error|:

- ``today``: the card's method (split conformal per predicted-age band, aligned val chips);
- ``bands_path``: the same, fitted on every val kind pooled (the photo path and its degradations);
- ``scaled``: normalised conformal, |error| scale a smooth function of the estimate (mean |error| per estimate
  bin, interpolated; fitted on one half of the pooled val faces), signed quantiles of error / scale on the other
  half: the width grows with the estimate continuously, not in 7 steps;
- ``scaled_bands``: the same with the quantiles per predicted-age band (Mondrian on the normalised score);
- ``card`` (with ``--card``): a card's own intervals for the file, such as ``edge-age calibrate`` fits (the method
  ``scaled_bands`` on the pooled val faces it is given).

Runtime only (no torch); the estimates of each set are cached in ``--work`` (they name dataset files: never
committed). Imports edge_age internals and benchmarks/robustness.py; smoke-tested by tests/lab.

    python lab/interval_methods.py export/mobilenetv2_age/mobilenetv2_age_int8.tflite \
        --utk ../shared/data/UTKFace.tar.gz --aaf ../shared/data/AAF-train.tar.gz \
        --wild-val runs/wild_val --wild-test runs/wild_test --work runs/interval_methods \
        --json lab/interval_methods.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from robustness import DEGRADATIONS, degraded_scenes  # noqa: E402

from edge_age import fileio  # noqa: E402
from edge_age.data.dataset import config_for_model, load_dataset  # noqa: E402
from edge_age.eval.metrics import AGE_BANDS  # noqa: E402
from edge_age.runtime import intervals, load_predictor  # noqa: E402
from edge_age.runtime.card import file_entry  # noqa: E402

KNOTS = (0, 3, 6, 10, 15, 20, 25, 30, 40, 50, 60, 75, 90)  # estimate bins of the scale function


def _estimates(predictor, cfg, split: str, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    ds = load_dataset(cfg, predictor.spec, cache_dir=cache, progress=False, splits=(split,))
    idx = ds.indices(split)
    return ds.faces.ages[idx].astype(np.float64), predictor.predict(ds.faces.faces[idx]).astype(np.float64)


def kinds(predictor, args: argparse.Namespace, split: str) -> Iterator[tuple[str, Any, str]]:
    """Every input kind of one split, in order: its name, data config and the split to load (scenes: all)."""
    yield "aligned", config_for_model(predictor.data_config, args.utk), split
    wild = args.wild_val if split == "val" else args.wild_test
    for name, labels in degraded_scenes(wild, args.limit, args.work / f"scenes_{split}").items():
        yield ("in context" if name == "none" else name,
               config_for_model(predictor.data_config, str(labels), detect_faces=True), "all")
    if args.aaf:
        yield "aaf", config_for_model(predictor.data_config, args.aaf, detect_faces=True), split


def score_sets(model: str, args: argparse.Namespace, split: str) -> dict[str, dict[str, list[float]]]:
    """Every input kind's true ages and estimates for one split, cached in ``--work/SPLIT.json``."""
    out_file = args.work / f"{split}.json"
    if out_file.exists():
        return json.loads(out_file.read_text())
    predictor = load_predictor(model, threads=args.threads)
    sets: dict[str, dict[str, list[float]]] = {}
    for kind, cfg, sp in kinds(predictor, args, split):
        y, p = _estimates(predictor, cfg, sp, args.work / "cache")
        sets[kind] = {"age": y.round(3).tolist(), "estimate": p.round(4).tolist()}
        print(f"  {split} {kind}: {len(y)} faces, MAE {np.abs(p - y).mean():.3f}", file=sys.stderr)
    fileio.write_text(out_file, json.dumps(sets))
    return sets


def scale_fit(pred: np.ndarray, err: np.ndarray) -> list[list[float]]:
    """Mean |error| at each knot (faces binned by estimate), floored at 0.5 year: the width's shape."""
    edges = np.asarray(KNOTS[1:])
    b = np.searchsorted(edges, pred, side="right")
    table = []
    for k, x in enumerate(KNOTS):
        sel = b == k
        table.append([float(x), max(0.5, float(np.abs(err[sel]).mean())) if sel.sum() >= 30 else None])
    known = [(x, s) for x, s in table if s is not None]
    return [[x, s if s is not None else float(np.interp(x, *zip(*known)))] for x, s in table]


def scale_at(table: list[list[float]], pred: np.ndarray) -> np.ndarray:
    xs, ss = np.asarray(table).T
    return np.interp(pred, xs + np.diff(np.r_[xs, xs[-1] + 20]) / 2, ss)  # each bin's mean at its middle


def fit_method(method: str, pred: np.ndarray, true: np.ndarray, seed: int = 0) -> dict:
    err = pred - true
    if method in ("today", "bands_path"):
        return {"kind": "bands", "fitted": intervals.fit(pred, true)}
    half = np.random.default_rng(seed).permutation(len(pred)) % 2 == 0
    table = scale_fit(pred[half], err[half])
    r = err[~half] / scale_at(table, pred[~half])
    if method == "scaled":
        return {"kind": "scaled", "table": table, "q": intervals._quantiles(r, intervals.LEVEL)}
    bands = intervals._band(pred[~half])
    overall = intervals._quantiles(r, intervals.LEVEL)
    q = [intervals._quantiles(r[bands == b], intervals.LEVEL) if (bands == b).sum() >= intervals.MIN_BAND else overall
         for b in range(len(intervals.BAND_EDGES))]
    return {"kind": "scaled_bands", "table": table, "q": q}


def apply(fitted: dict, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if fitted["kind"] == "bands":
        return intervals.interval(pred, fitted["fitted"])
    s = scale_at(fitted["table"], pred)
    q = np.asarray(fitted["q"])
    q = q[intervals._band(pred)] if q.ndim == 2 else np.broadcast_to(q, (len(pred), 2))
    return np.maximum(pred - q[:, 1] * s, 0), np.maximum(pred - q[:, 0] * s, 0)


def report(fitted: dict, sets: dict) -> dict:
    out = {}
    for kind, d in sets.items():
        y, p = np.asarray(d["age"]), np.asarray(d["estimate"])
        lo, hi = apply(fitted, p)
        cov = intervals.coverage(y, lo, hi, AGE_BANDS, p)
        out[kind] = {**cov, "min_band": min(v["coverage"] for v in cov["per_band"].values())}
    return out


def reliability_md(record: dict, method: str) -> str:
    """One method's test table: per input kind, coverage, mean width, width-error Spearman, each true-age band."""
    rows = record["results"][method]["test"]
    bands = list(next(iter(rows.values()))["per_band"])
    head = ["| input (test split) | faces | 80% coverage | mean width | width-error Spearman | " + " | ".join(bands) + " |",
            "|---|---:|---:|---:|---:|" + "---:|" * len(bands)]
    body = []
    for kind, v in rows.items():
        n = sum(b["n"] for b in v["per_band"].values())
        rho = v.get("width_error_spearman")
        body.append(f"| {kind} | {n} | {v['coverage']:.3f} | {v['mean_width']:.1f} | "
                    f"{'-' if rho is None else f'{rho:.2f}'} | "
                    + " | ".join(f"{v['per_band'][b]['coverage']:.2f} ({v['per_band'][b]['n']})" if b in v["per_band"]
                                 else "-" for b in bands) + " |")
    title = {"card": "the card's intervals", "today": "as `edge-age export` fits them (per predicted-age band, "
             "aligned val chips only)"}.get(method, method)
    top = ["# 80% intervals on every input kind (test split)", "", f"Made by `{record['command']}`.", "",
           "Coverage per true-age band: share inside (faces). Fitted on val only (`edge-age calibrate`'s command is in "
           "the card); the scenes and their degradations are the same 600 test scenes, so their bands hold about 20 "
           "teenagers (steps of 0.05).", ""] if method != "today" or "card" not in record["results"] else []
    return "\n".join([*top, f"## {title}", "", *head, *body, ""])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("--utk", required=True)
    ap.add_argument("--aaf", default=None)
    ap.add_argument("--wild-val", type=Path, required=True)
    ap.add_argument("--wild-test", type=Path, required=True)
    ap.add_argument("--limit", type=int, default=600, help="scenes per degradation and split (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--md", type=Path, default=None,
                    help="also write the test table of the card's intervals (with --card), else of today's, as Markdown")
    ap.add_argument("--card", type=Path, default=None,
                    help="also report this card's intervals for the model's file (e.g. one `edge-age calibrate` wrote)")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    val, test = score_sets(args.model, args, "val"), score_sets(args.model, args, "test")
    pooled_p = np.concatenate([val[k]["estimate"] for k in val])
    pooled_y = np.concatenate([val[k]["age"] for k in val])
    fits = {"today": fit_method("today", np.asarray(val["aligned"]["estimate"]), np.asarray(val["aligned"]["age"])),
            **{m: fit_method(m, pooled_p, pooled_y) for m in ("bands_path", "scaled", "scaled_bands")}}
    card = (file_entry(load_predictor(args.model)) or {}).get("interval")
    if args.card:
        from edge_age.formats import format_of
        entry = json.loads(args.card.read_text())["files"][format_of(Path(args.model)).name]
        fits["card"] = {"kind": "bands", "fitted": entry["interval"]}
    results = {m: {"val": report(f, val), "test": report(f, test)} for m, f in fits.items()}
    record = {"command": "python lab/interval_methods.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "degradations": list(DEGRADATIONS), "card_interval": card, "fits": fits, "results": results}
    fileio.write_text(args.json, fileio.json_text(record))
    if args.md:
        parts = [reliability_md(record, m) for m in (("card", "today") if args.card else ("today",))]
        fileio.write_text(args.md, "\n".join(parts))
    for m, r in results.items():
        print(f"\n{m} (test): kind: coverage / worst true-age band / mean width / Spearman(width, |error|)")
        for kind, v in r["test"].items():
            print(f"  {kind:28s} {v['coverage']:.3f} / {v['min_band']:.3f} / {v['mean_width']:5.1f} / "
                  f"{v['width_error_spearman']:.3f}  " + " ".join(f"{b}:{x['coverage']:.2f}" for b, x in v["per_band"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
