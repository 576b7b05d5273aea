"""Add per-face 80% intervals to the card of an export made before they existed (``edge-age export``
fits them). Each file present is run on the val split of the data its card names (``--data`` where
that moved) and edge_age.runtime.intervals.fit stores its own val errors per predicted-age band.

    python scripts/add_interval.py export/mobilenetv2_age --data ../shared/data/UTKFace.tar.gz
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge_age.runtime import intervals
from edge_age.data.dataset import config_for_model, load_dataset
from edge_age.runtime.batch import predict_all
from edge_age.runtime import load_predictor
from edge_age.runtime.card import ModelCard


def add_interval(folder: Path, data: str | None) -> None:
    card_file = next(folder.glob("*.json"))
    card = ModelCard.from_dict(json.loads(card_file.read_text()))
    for entry in card.files.values():
        path = folder / entry["file"]
        if not path.is_file():
            continue
        p = load_predictor(path, check=False)
        ds = load_dataset(config_for_model(card.data, data), p.spec, progress=False, splits=("val",))
        val = ds.indices("val")
        entry["interval"] = intervals.fit(predict_all(p, ds.faces.faces[val], progress=False), ds.faces.ages[val])
        print(f"{path}: {[b['err'] for b in entry['interval']['bands']]}")
    card.write(card_file)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--data", default=None)
    args = ap.parse_args()
    for f in args.folders:
        add_interval(f, args.data)
