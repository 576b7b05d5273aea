"""Would the distribution head's own spread make the intervals hold where the estimate alone does not? (issue 36
item 2, before exporting the spread as a second output of the model files.)

The fp32 checkpoint of the shipped reference on the same input kinds as ``lab/interval_methods.py`` (aligned chips,
faces in context and their 7 degradations, AAF; val to fit, test to report; the scenes and their degraded copies
are the ones that script wrote into ``--work``): each face's estimate and the standard deviation of its softmax over
years. Normalised split conformal, fitted on the pooled val kinds only, with three scales:

- ``estimate``: the mean |error| of val faces estimated near the face's estimate (what the shipped card does);
- ``spread``: the face's spread, times a constant (the head's own uncertainty);
- ``both``: the estimate's scale times (spread / the median spread of val faces estimated near it) ** 0.5.

Imports torch and edge_age internals (checkpoint, dataset); smoke-tested by tests/lab.

    python lab/interval_spread.py runs/mobilenetv2_age_mix24/best.pt --utk ../shared/data/UTKFace.tar.gz \
        --aaf ../shared/data/AAF-train.tar.gz --work runs/interval_methods --json lab/interval_spread.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from interval_signals import estimates_and_spread  # noqa: E402

from edge_age import fileio  # noqa: E402
from edge_age.data.dataset import config_for_model, load_dataset  # noqa: E402
from edge_age.data.preprocess import PreprocessSpec  # noqa: E402
from edge_age.eval.metrics import AGE_BANDS  # noqa: E402
from edge_age.models.checkpoint import build_model, load_checkpoint  # noqa: E402
from edge_age.runtime import intervals  # noqa: E402
from edge_age.runtime.card import read_card  # noqa: E402

KINDS = ("none", "grey", "sepia (not trained)", "low resolution 1/3", "JPEG quality 15", "grain sigma 8",
         "dark (gamma 1.8)", "motion blur (not trained)")


def sets_of(args: argparse.Namespace, split: str, stored: dict | None, spec) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    cache = args.work / "cache"

    def load(cfg, which: str):
        ds = load_dataset(cfg, spec, cache_dir=cache, progress=False, splits=(which,))
        idx = ds.indices(which)
        return ds.faces.faces[idx], ds.faces.ages[idx].astype(np.float64)

    out = {"aligned": load(config_for_model(stored, args.utk), split)}
    for k, name in enumerate(KINDS):
        labels = args.work / f"scenes_{split}" / f"d{k}" / "labels.csv"
        if not labels.exists():
            raise SystemExit(f"{labels}: run lab/interval_methods.py with the same --work first")
        out["in context" if name == "none" else name] = load(config_for_model(stored, str(labels), detect_faces=True), "all")
    out["aaf"] = load(config_for_model(stored, args.aaf, detect_faces=True), split)
    return out


def near(table_x: np.ndarray, values: np.ndarray, at: np.ndarray, stat) -> np.ndarray:
    """``stat`` of ``values`` over the val faces whose estimate falls in each bin of intervals.SCALE_EDGES,
    interpolated at ``at`` (bins with under 30 faces borrow their neighbours')."""
    edges = np.asarray(intervals.SCALE_EDGES)
    mids, vals = [], []
    for lo, hi in zip(edges, edges[1:]):
        sel = (table_x >= lo) & (table_x < hi)
        if sel.sum() >= 30:
            mids.append((lo + hi) / 2)
            vals.append(stat(values[sel]))
    return np.interp(at, mids, vals)


def fit_and_score(val: dict, test: dict, method: str) -> dict:
    pv = np.concatenate([v["p"] for v in val.values()])
    yv = np.concatenate([v["y"] for v in val.values()])
    sv = np.concatenate([v["s"] for v in val.values()])
    half = np.random.default_rng(0).permutation(len(pv)) % 2 == 0
    err = pv - yv

    def scale(p: np.ndarray, s: np.ndarray) -> np.ndarray:
        by_est = near(pv[half], np.abs(err[half]), p, np.mean)
        if method == "estimate":
            return np.maximum(by_est, 0.5)
        if method == "spread":
            return np.maximum(s, 0.25)
        return np.maximum(by_est * np.sqrt(np.maximum(s, 0.25) / near(pv[half], sv[half], p, np.median)), 0.5)

    rest = ~half
    r = err[rest] / scale(pv[rest], sv[rest])
    bands = intervals._band(pv[rest])
    q = np.array([intervals._quantiles(r[bands == b], intervals.LEVEL) for b in range(len(intervals.BAND_EDGES))])
    out = {}
    for kind, d in test.items():
        sc = scale(d["p"], d["s"])
        qq = q[intervals._band(d["p"])]
        lo, hi = np.maximum(d["p"] - qq[:, 1] * sc, 0), np.maximum(d["p"] - qq[:, 0] * sc, 0)
        cov = intervals.coverage(d["y"], lo, hi, AGE_BANDS, d["p"])
        out[kind] = {**cov, "min_band": min(v["coverage"] for v in cov["per_band"].values())}
    return out


def parse_and_load(argv: list[str] | None, doc: str) -> tuple[argparse.Namespace, object, PreprocessSpec, PreprocessSpec]:
    """The options this script and lab/head_readout.py share; the checkpoint's model, its input normalisation, and
    the exported file's crops (the runtime's, and lab/interval_methods.py's cache)."""
    ap = argparse.ArgumentParser(description=doc.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint")
    ap.add_argument("--utk", required=True)
    ap.add_argument("--aaf", required=True)
    ap.add_argument("--work", type=Path, required=True, help="lab/interval_methods.py's --work folder")
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--model-file", default="export/mobilenetv2_age/mobilenetv2_age_int8.tflite",
                    help="the exported file whose card gives the crops (default: %(default)s)")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    ckpt = load_checkpoint(args.checkpoint)
    return (args, build_model(ckpt, args.checkpoint), PreprocessSpec.from_dict(ckpt["preprocess"]),
            read_card(args.model_file).preprocess)


def main(argv: list[str] | None = None) -> int:
    args, model, spec, crops = parse_and_load(argv, __doc__)
    stored = None  # score each set as given (the export card's config: UTKFace's own split, seed 0)
    est = {}
    for split in ("val", "test"):
        est[split] = {}
        for kind, (faces, ages) in sets_of(args, split, stored, crops).items():
            p, s = estimates_and_spread(model, faces, spec)
            est[split][kind] = {"p": p.astype(np.float64), "s": s.astype(np.float64), "y": ages}
            print(f"  {split} {kind}: {len(ages)} faces, MAE {np.abs(p - ages).mean():.3f}", file=sys.stderr)
    results = {m: fit_and_score(est["val"], est["test"], m) for m in ("estimate", "spread", "both")}
    command = "python lab/interval_spread.py " + " ".join(sys.argv[1:] if argv is None else argv)
    fileio.write_text(args.json, fileio.json_text({"command": command, "results": results}))
    for m, r in results.items():
        print(f"\n{m} (test): coverage / worst true-age band / mean width / width-error Spearman")
        for kind, v in r.items():
            print(f"  {kind:28s} {v['coverage']:.3f} / {v['min_band']:.3f} / {v['mean_width']:5.1f} / "
                  f"{v['width_error_spearman']:.3f}  " + " ".join(f"{b}:{x['coverage']:.2f}" for b, x in v["per_band"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
