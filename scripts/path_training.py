"""A training set on the path a user takes: the train split's aligned chips and the same split's faces in context.

Written as one CSV folder for `edge-age train --data OUT/labels.csv --detect-faces`, so every training face is
found by the product's detector and cropped by its framing (the chips with their canvas extended, the scenes
in their photo): the model learns from the crops the runtime makes, with the detector's and the framing's real
errors, instead of a fitted model of them. The reference model is trained this way (scripts/run.sh;
lab/lab_notes.md has the run and its result):

    edge-age data wild --data ../shared/data/UTKFace.tar.gz --split train --out runs/wild_train
    python scripts/path_training.py --data ../shared/data/UTKFace.tar.gz --scenes runs/wild_train \
        --out runs/path_train

Only train-split faces go in (the seed-0 split that `edge-age data wild --split train` and every reference run
use), so the UTKFace val and test splits, aligned or in context, stay unseen. The training run splits this
folder again by file name, so a chip and its own scene can fall on both sides of that run's val split: its
val MAE is optimistic and serves only to pick the epoch; score the model on the dataset's val split
(`edge-age eval best.pt --data ARCHIVE --split val`, aligned chips: detection stays with the training data).
The chips are copied byte for byte under index names (chips/NNNNN.jpg) and the scenes hard-linked (scenes/):
the folder is scratch under runs/, never committed (UTKFace's licence).
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import sys
from pathlib import Path

from edge_age import fileio
from edge_age.data.dataset import DataConfig, split_samples


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="the labeled dataset the scenes were made from")
    ap.add_argument("--scenes", required=True, help="folder written by `edge-age data wild --split train`")
    ap.add_argument("--out", required=True, help="folder for chips/, scenes/ and labels.csv")
    ap.add_argument("--limit", type=int, default=None,
                    help="only the first N faces of the dataset, as `data wild --limit N` made the scenes from")
    args = ap.parse_args()
    out, scenes = Path(args.out), Path(args.scenes)
    rows = []
    ls, samples = split_samples(DataConfig(path=args.data, limit=args.limit), "train")
    ages = {s.name: s.age for s in samples}
    for k, (name, data) in enumerate(sorted(ls.container.read_many(ages), key=lambda x: x[0])):
        if isinstance(data, Exception):
            print(f"skipped: {data}", file=sys.stderr)
            continue
        rel = f"chips/{k:05d}.jpg"
        fileio.write_bytes(out / rel, data)
        rows.append({"file_name": rel, "age": f"{ages[name]:g}"})
    n_chips = len(rows)
    (out / "scenes").mkdir(parents=True, exist_ok=True)
    with open(scenes / "labels.csv", newline="") as f:
        for row in csv.DictReader(f):
            rel = f"scenes/{row['file_name']}"
            (out / rel).unlink(missing_ok=True)  # a scene of an earlier wild folder would keep its old age
            try:
                os.link(scenes / row["file_name"], out / rel)
            except OSError:  # another file system: a copy
                shutil.copyfile(scenes / row["file_name"], out / rel)
            rows.append({"file_name": rel, "age": row["age"]})
    fileio.write_csv(out / "labels.csv", rows)
    print(f"wrote {len(rows)} rows ({n_chips} train-split chips, {len(rows) - n_chips} scenes) to {out / 'labels.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
