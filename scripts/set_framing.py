"""Give an exported model folder a new face framing (contract 1) without retraining or re-quantising:
the card's preprocess.framing and the spec inside each ONNX file are replaced, the card's byte counts and
hashes follow, nothing else changes (weights, golden outputs and intervals do not depend on the framing).

Used when the project's detector changed (Haar -> MTCNN): the framing maps a detector's boxes and eyes to
the training chips' square, so a new detector needs its own fit (`edge-age data framing --detector`),
while the model, trained on the chips, stays the same.

    python scripts/set_framing.py export/mobilenetv2_age --framing edge_age/reference/framing_mtcnn.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import replace
from pathlib import Path

import onnx

from edge_age import fileio
from edge_age.data.framing_fit import load_fit
from edge_age.formats import META_SPEC
from edge_age.runtime.card import ModelCard


def set_framing(folder: Path, framing_file: Path) -> None:
    framing, _ = load_fit(framing_file)
    cards = sorted(folder.glob("*.json"))
    if len(cards) != 1:
        raise SystemExit(f"{folder}: expected one model card, found {len(cards)}")
    card_file = cards[0]
    card = ModelCard.from_dict(json.loads(card_file.read_text()))
    card.preprocess = replace(card.preprocess, framing=framing)
    for entry in card.files.values():
        path = folder / entry["file"]
        if path.suffix != ".onnx" or not path.is_file():
            continue  # TFLite files carry no spec: the card is theirs
        model = onnx.load(str(path))
        for prop in model.metadata_props:
            if prop.key == META_SPEC:  # the card part (META_CARD) holds no preprocessing
                prop.value = json.dumps(card.preprocess.to_dict())
        onnx.checker.check_model(model)
        data = model.SerializeToString()
        fileio.write_bytes(path, data)
        entry.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
        print(f"{path}: framing set ({framing.detector})")
    card.write(card_file)
    print(f"{card_file}: framing set ({framing.detector}, {framing.fitted_on})")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--framing", type=Path, required=True, help="a file written by `edge-age data framing`")
    args = ap.parse_args()
    for f in args.folders:
        set_framing(f, args.framing)
