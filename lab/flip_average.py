"""What averaging each face's estimate with its mirror image's would buy (lab/flip_average.md).

A measurement for a later change, not a feature: every set is scored by the model file through the product's
own loading path (torch-free runtime, the card's preprocessing, the framing of ``--detect-faces``) twice, on the
crops as given and mirrored left-right, and the MAE of each and of their mean is reported. Sets are
``DATA:SPLIT:DETECT`` (DETECT 1 for raw photos through MTCNN -> framing -> crop, as `edge-age eval --detect-faces`).

    python lab/flip_average.py export/mobilenetv2_age/mobilenetv2_age_int8.tflite \
        ../shared/data/UTKFace.tar.gz:val:0 runs/wild_val/labels.csv:all:1 \
        ../shared/data/UTKFace.tar.gz:test:0 ../shared/data/UTKFace.tar.gz:test:1 runs/wild_test/labels.csv:all:1 \
        --out lab/flip_average

Lab script (lab/README.md). It imports edge_age internals (edge_age.data.dataset, runtime, runtime.batch,
cli_types, errors, fileio), so a rename there can break it: tests/lab/test_lab_smoke.py runs its --help.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from edge_age import fileio
from edge_age.cli_types import POSITIVE_INT
from edge_age.data.dataset import config_for_model, load_dataset
from edge_age.errors import EdgeAgeError
from edge_age.runtime.batch import predict_all
from edge_age.runtime import load_predictor


def _set(text: str) -> tuple[str, str, bool]:
    parts = text.rsplit(":", 2)
    if len(parts) != 3 or not parts[0] or parts[1] not in ("train", "val", "test", "all") or parts[2] not in ("0", "1"):
        raise argparse.ArgumentTypeError(f"{text!r}: want DATA:SPLIT:DETECT, e.g. data.tar.gz:val:0")
    return parts[0], parts[1], parts[2] == "1"


def score(predictor, data: str, split: str, detect: bool) -> dict:
    cfg = config_for_model(predictor.data_config, data, "auto", detect, None, None)
    ds = load_dataset(cfg, predictor.spec, progress=False, splits=None if split == "all" else (split,))
    idx = ds.indices(split)
    if len(idx) == 0:
        raise EdgeAgeError(f"the {split} split is empty", data)
    y, faces = ds.faces.ages[idx], ds.faces.faces[idx]
    start = time.perf_counter()
    plain = predict_all(predictor, faces, progress=False)
    seconds = time.perf_counter() - start
    mirrored = predict_all(predictor, np.ascontiguousarray(faces[:, :, ::-1]), progress=False)
    mae = {name: float(np.abs(p - y).mean()) for name, p in
           (("plain", plain), ("mirrored", mirrored), ("mean", (plain + mirrored) / 2))}
    return {"data": data, "split": split, "detect_faces": detect, "n": int(len(y)), "skipped": len(ds.problems),
            "mae": mae, "model_seconds_per_face": seconds / len(y)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model", help="an exported .tflite or .onnx file with its card")
    p.add_argument("sets", nargs="+", type=_set, metavar="DATA:SPLIT:DETECT")
    p.add_argument("--out", required=True, help="writes OUT.md and OUT.json")
    p.add_argument("--threads", type=POSITIVE_INT, default=1)
    args = p.parse_args(argv)
    try:
        predictor = load_predictor(args.model, threads=args.threads)
        rows = [score(predictor, *s) for s in args.sets]
    except EdgeAgeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    command = "python lab/flip_average.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    lines = ["# Averaging each estimate with the mirror image's", "", f"Made by `{command}`.", "",
             f"Model: `{args.model}` ({args.threads} thread). Mirrored = the crop flipped left-right; mean = the "
             "average of the two estimates (two model runs per face).", "",
             "| data | split | detection | faces | MAE | mirrored | mean | change |", "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        m = r["mae"]
        lines.append(f"| {r['data']} | {r['split']} | {'yes' if r['detect_faces'] else 'no'} | {r['n']} | "
                     f"{m['plain']:.3f} | {m['mirrored']:.3f} | {m['mean']:.3f} | {m['mean'] - m['plain']:+.3f} |")
    fileio.write_text(Path(args.out + ".md"), "\n".join(lines) + "\n")
    fileio.write_json(Path(args.out + ".json"), {"command": command, "model": args.model, "rows": rows})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
