"""Issue 36: how much of an 80% interval's test coverage is the luck of calibrate's draw of faces?

Until the eighteenth session `edge-age calibrate` fitted the scale on one seeded half of the pooled val faces and
the band percentiles on the other (normalised split conformal); the permutation is over the pooled faces, so a pool
that changes by a few faces (a detector that finds 3 more or fewer) drew another split. This script refits that
half split (`--weigh sets`: each input kind weighted equally) on the cached val estimates of `interval_methods.py`
with SEEDS different draws and reports each test kind's coverage over them (min / median / max), and how many of
the 7 degradations reach 0.77 under each; beside it, one fit without a split (scale and percentiles on all val
faces: no finite-sample guarantee, no draw), and what `calibrate` fits now (`intervals.fit_scaled`: FOLDS-fold
cross-fit, each face's error / scale from a scale fitted on the other folds) over the same SEEDS draws of folds.

    python lab/interval_split_noise.py --work runs/r38/interval_methods --json lab/interval_split_noise.json

(`interval_methods.py` with the same ``--work`` first: its cached val.json and test.json are read). Imports
edge_age's runtime, no torch; smoke-tested by tests/lab.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from interval_quality import pooled_estimates  # noqa: E402

from edge_age import fileio  # noqa: E402
from edge_age.eval.metrics import AGE_BANDS  # noqa: E402
from edge_age.runtime import intervals  # noqa: E402

DEGRADED_FROM = 2  # the cached kinds: aligned, in context, then the degradations, then AAF (interval_methods.kinds)
TARGET = 0.77


def unsplit(p: np.ndarray, y: np.ndarray, w: np.ndarray) -> dict:
    """The same fit with the scale and the percentiles both on every face."""
    err = p - y
    points = intervals.fit_scale(p, err, w)
    return {"scale": points, "bands": intervals._band_quantiles(p, err / intervals.scale_at(points, p),
                                                                  intervals.LEVEL, w / w.mean())}


def half_split(p: np.ndarray, y: np.ndarray, w: np.ndarray, seed: int) -> dict:
    """What `calibrate` fitted until the eighteenth session: the scale on one seeded half, the percentiles on the
    other."""
    err = p - y
    half = np.random.default_rng(seed).permutation(len(p)) % 2 == 0
    points = intervals.fit_scale(p[half], err[half], w[half])
    rest = ~half
    return {"scale": points, "bands": intervals._band_quantiles(p[rest], err[rest] / intervals.scale_at(points, p[rest]),
                                                                  intervals.LEVEL, w[rest] / w[rest].mean())}


def scored(fitted: dict, test: dict) -> dict[str, float]:
    out = {}
    for k, v in test.items():
        y, p = np.asarray(v["age"], np.float64), np.asarray(v["estimate"], np.float64)
        out[k] = intervals.coverage(y, *intervals.interval(p, fitted), AGE_BANDS, p)["coverage"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, required=True, help="interval_methods.py's --work (val.json, test.json)")
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--folds", type=int, default=intervals.FOLDS, help="folds of calibrate's cross-fit")
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args(argv)
    val, test = (json.loads((args.work / f"{sp}.json").read_text()) for sp in ("val", "test"))
    y, p, w = pooled_estimates(val)
    runs = [scored(half_split(p, y, w, s), test) for s in range(args.seeds)]
    kinds = list(test)
    degraded = kinds[DEGRADED_FROM:DEGRADED_FROM + 7]
    summary = {k: {q: round(float(f(np.array([r[k] for r in runs]))), 3) for q, f in
                   (("min", np.min), ("median", np.median), ("max", np.max))} for k in kinds}
    met = [sum(r[k] >= TARGET for k in degraded) for r in runs]
    whole = scored(unsplit(p, y, w), test)
    crossed = [scored(intervals.fit_scaled(p, y, seed=s, weights=w, folds=args.folds), test)
               for s in range(args.seeds)]
    cross = {k: {q: round(float(f(np.array([r[k] for r in crossed]))), 3) for q, f in
                 (("min", np.min), ("median", np.median), ("max", np.max))} for k in kinds}
    cross_met = [sum(r[k] >= TARGET for k in degraded) for r in crossed]
    for k in kinds:
        s, c = summary[k], cross[k]
        print(f"{k:28s} split seeds {s['min']:.3f} / {s['median']:.3f} / {s['max']:.3f}   no split {whole[k]:.3f}"
              f"   {args.folds}-fold seeds {c['min']:.3f} / {c['median']:.3f} / {c['max']:.3f}")
    print(f"degradations >= {TARGET} per split: {sorted(met)}; without a split: "
          f"{sum(whole[k] >= TARGET for k in degraded)}; per {args.folds}-fold cross-fit: {sorted(cross_met)}")
    record = {"command": "python lab/interval_split_noise.py " + " ".join(sys.argv[1:] if argv is None else argv),
              "seeds": args.seeds, "test_coverage_over_seeds": summary, "degradations_met_per_seed": met,
              "test_coverage_without_split": {k: round(v, 3) for k, v in whole.items()},
              "folds": args.folds, "test_coverage_cross_fit_over_seeds": cross,
              "degradations_met_per_cross_fit_seed": cross_met}
    fileio.write_text(args.json, fileio.json_text(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
