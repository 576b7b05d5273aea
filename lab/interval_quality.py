"""Issue 36, the degraded kinds: can the intervals hold on each degradation without a run-time signal of it?

`interval_methods.py` scores the shipped int8 file on every input kind (aligned, faces in context, 7 degradations of
600 scenes, AAF), val and test; this script adds each face's quality signals as `predict --json` reports them
(`edge_age.runtime.quality.face_quality` on the crop fed to the model: sharpness, colourfulness), cached in
``--work/quality_SPLIT.json``, and fits on val only, reporting test:

- ``faces``: normalised split conformal per predicted band (what `calibrate` fitted before), each face once;
- ``sets``: the same with every input kind weighted equally (`calibrate --weigh sets`, its default now);
- ``sets + soft``: and a Mondrian group of soft crops (sharpness under the 10th percentile of clean val faces:
  blur, low resolution), fitted on their own;
- ``sets x M``: every width multiplied by M, the price of reaching 0.77 on each degradation by widening all.

    python lab/interval_quality.py export/mobilenetv2_age/mobilenetv2_age_int8.tflite \\
        --utk ../shared/data/UTKFace.tar.gz --aaf ../shared/data/AAF-train.tar.gz \\
        --wild-val runs/wild_val --wild-test runs/wild_test --work runs/interval_methods --json lab/interval_quality.json

(run `interval_methods.py` with the same options first: its estimates are read from ``--work``). Imports edge_age's
runtime and data, no torch; smoke-tested by tests/lab.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from interval_methods import kinds, score_sets  # noqa: E402

from edge_age import fileio  # noqa: E402
from edge_age.data.dataset import load_dataset  # noqa: E402
from edge_age.eval.metrics import AGE_BANDS  # noqa: E402
from edge_age.runtime import intervals, load_predictor  # noqa: E402
from edge_age.runtime.quality import face_quality  # noqa: E402

SOFT_PERCENTILE = 10


def quality_sets(args: argparse.Namespace, split: str) -> dict[str, list[float]]:
    """Each kind's crops' sharpness, in the order of `interval_methods`' estimates (the same kinds, loader and cache)."""
    out_file = args.work / f"quality_{split}.json"
    if out_file.exists():
        return json.loads(out_file.read_text())
    predictor = load_predictor(args.model, threads=args.threads)
    out = {}
    for kind, cfg, sp in kinds(predictor, args, split):
        ds = load_dataset(cfg, predictor.spec, cache_dir=args.work / "cache", progress=False, splits=(sp,))
        out[kind] = [face_quality(f, 0)["sharpness"] for f in ds.faces.faces[ds.indices(sp)]]
    fileio.write_text(out_file, json.dumps(out))
    return out


def pooled_estimates(est: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every kind's true ages and estimates pooled, and each face's weight when every kind counts equally."""
    y = np.concatenate([est[k]["age"] for k in est])
    p = np.concatenate([est[k]["estimate"] for k in est])
    return y, p, intervals.set_weights([len(est[k]["age"]) for k in est])


def pooled(est: dict, sharp: dict) -> tuple[np.ndarray, ...]:
    y, p, w = pooled_estimates(est)
    return y, p, np.concatenate([sharp[k] for k in est]), w


def fit(method: str, y: np.ndarray, p: np.ndarray, s: np.ndarray, w: np.ndarray, soft_below: float) -> dict:
    """One fitted method: {group: fitted card interval}; a face's group is 1 if its crop is soft (``+ soft``)."""
    weights = None if method == "faces" else w
    if not method.endswith("+ soft"):
        return {0: intervals.fit_scaled(p, y, weights=weights)}
    soft = s < soft_below
    return {g: intervals.fit_scaled(p[m], y[m], weights=w[m] / w[m].mean()) for g, m in ((0, ~soft), (1, soft))}


def apply(fitted: dict, p: np.ndarray, s: np.ndarray, soft_below: float, mult: float) -> tuple[np.ndarray, np.ndarray]:
    group = (s < soft_below).astype(int) if len(fitted) > 1 else np.zeros(len(p), int)
    lo, hi = np.zeros(len(p)), np.zeros(len(p))
    for g, f in fitted.items():
        m = group == g
        l, h = intervals.interval(p[m], f)
        lo[m], hi[m] = np.maximum(p[m] - (p[m] - l) * mult, 0), p[m] + (h - p[m]) * mult
    return lo, hi


def report(fitted: dict, est: dict, sharp: dict, soft_below: float, mult: float) -> dict:
    out = {}
    for k in est:
        y, p, s = (np.asarray(x, np.float64) for x in (est[k]["age"], est[k]["estimate"], sharp[k]))
        cov = intervals.coverage(y, *apply(fitted, p, s, soft_below, mult), AGE_BANDS, p)
        out[k] = {"coverage": cov["coverage"], "mean_width": cov["mean_width"],
                  "worst_band": min(v["coverage"] for v in cov["per_band"].values()), "n": len(y)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    for name in ("--utk", "--wild-val", "--wild-test", "--work", "--json"):
        ap.add_argument(name, type=Path if name != "--utk" else str, required=True)
    ap.add_argument("--aaf", default=None)
    ap.add_argument("--limit", type=int, default=600)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    est = {sp: score_sets(args.model, args, sp) for sp in ("val", "test")}
    sharp = {sp: quality_sets(args, sp) for sp in ("val", "test")}
    soft_below = float(np.percentile(np.r_[sharp["val"]["aligned"], sharp["val"]["in context"]], SOFT_PERCENTILE))
    y, p, s, w = pooled(est["val"], sharp["val"])
    runs = [("faces", 1.0), ("sets", 1.0), ("sets + soft", 1.0), ("sets", 1.05), ("sets", 1.1)]
    results = {}
    for method, mult in runs:
        name = method if mult == 1.0 else f"{method} x {mult}"
        fitted = fit(method, y, p, s, w, soft_below)
        results[name] = {sp: report(fitted, est[sp], sharp[sp], soft_below, mult) for sp in ("val", "test")}
        print(f"{name} (test): " + "  ".join(f"{k[:12]} {v['coverage']:.3f}/{v['worst_band']:.2f}/{v['mean_width']:.1f}"
                                           for k, v in results[name]["test"].items()))
    record = {"command": "python lab/interval_quality.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "soft_below_sharpness": round(soft_below, 1), "results": results}
    fileio.write_text(args.json, fileio.json_text(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
