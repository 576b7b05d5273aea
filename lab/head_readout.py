"""Does the distribution head's mean read the young old and the old young? (issues 35 and 36: the misses are bias.)

The reference's head is a softmax over one-year bins, read out as its mean. Near the ends of the age range the
distribution is skewed (a child's cannot go below 0, an old face's thins out above 80), and the mean of a skewed
distribution sits on its long side: towards the middle ages. This scores the shipped reference's fp32 checkpoint
with three readouts of the same softmax, on the input kinds of ``lab/interval_methods.py`` (aligned chips, faces in
context, AAF; val and test): the mean (today), the median (the age where the cumulative probability reaches 0.5,
interpolated within its bin) and the mode (the most probable year). Nothing is fitted: no readout is tuned to a set.

Imports torch and edge_age internals; smoke-tested by tests/lab.

    python lab/head_readout.py runs/mobilenetv2_age_mix24/best.pt --utk ../shared/data/UTKFace.tar.gz \
        --aaf ../shared/data/AAF-train.tar.gz --work runs/interval_methods --json lab/head_readout.json
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from interval_spread import parse_and_load, sets_of  # noqa: E402

from edge_age import fileio  # noqa: E402
from edge_age.data.preprocess import PreprocessSpec  # noqa: E402
from edge_age.eval.metrics import AGE_BANDS, band_name  # noqa: E402
from edge_age.models.registry import distribution_head  # noqa: E402
from edge_age.train.tensors import to_input  # noqa: E402

KEEP = ("aligned", "in context", "aaf")


def readouts(model, faces: np.ndarray, spec: PreprocessSpec) -> dict[str, np.ndarray]:
    import torch

    head = distribution_head(model)
    if head is None:
        raise SystemExit("the checkpoint has no distribution head")
    seen: list = []
    hook = head.register_forward_hook(lambda m, args, out: seen.append(torch.softmax(args[0].float(), dim=1)))
    with torch.no_grad():
        for i in range(0, len(faces), 256):
            model(to_input(faces[i:i + 256], spec, None))
    hook.remove()
    prob = torch.cat(seen).double().numpy()
    bins = head.bins.double().numpy()
    cdf = np.cumsum(prob, axis=1)
    k = np.argmax(cdf >= 0.5, axis=1)  # the first bin where half the probability is reached
    before = np.where(k > 0, cdf[np.arange(len(k)), np.maximum(k - 1, 0)], 0.0)
    within = (0.5 - before) / np.maximum(prob[np.arange(len(k)), k], 1e-12)  # how far into that one-year bin
    return {"mean": prob @ bins, "median": bins[k] - 0.5 + within, "mode": bins[np.argmax(prob, axis=1)]}


def score(p: np.ndarray, y: np.ndarray) -> dict:
    err = p - y
    bands = {}
    for lo, hi in AGE_BANDS:
        sel = (y >= lo) & (y <= hi)
        if sel.any():
            bands[band_name(lo, hi)] = {"n": int(sel.sum()), "mae": round(float(np.abs(err[sel]).mean()), 3),
                                        "bias": round(float(err[sel].mean()), 2)}
    u18 = y < 18
    return {"n": int(y.size), "mae": round(float(np.abs(err).mean()), 3), "bias": round(float(err.mean()), 2),
            "under_18_bias": round(float(err[u18].mean()), 2) if u18.any() else None,
            "challenge_25": round(float((p[(y >= 13) & (y <= 17)] < 25).mean()), 3) if ((y >= 13) & (y <= 17)).any() else None,
            "per_band": bands}


def main(argv: list[str] | None = None) -> int:
    args, model, spec, crops = parse_and_load(argv, __doc__)
    results: dict = {}
    for split in ("val", "test"):
        for kind, (faces, ages) in sets_of(args, split, None, crops).items():
            if kind not in KEEP:
                continue
            outs = readouts(model, faces, spec)
            results.setdefault(split, {})[kind] = {name: score(p, ages) for name, p in outs.items()}
    command = "python lab/head_readout.py " + " ".join(sys.argv[1:] if argv is None else argv)
    fileio.write_text(args.json, fileio.json_text({"command": command, "results": results}))
    for split, kinds in results.items():
        print(f"\n{split}: readout: MAE / bias / under-18 bias / Challenge 25 / bias per true-age band")
        for kind, rs in kinds.items():
            for name, r in rs.items():
                print(f"  {kind:12s} {name:6s} {r['mae']:.3f} / {r['bias']:+.2f} / {r['under_18_bias']:+.2f} / "
                      f"{r['challenge_25']} / " + " ".join(f"{b}:{v['bias']:+.1f}" for b, v in r["per_band"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
