"""Give an exported model folder a new face framing, without re-exporting (the model bytes are kept).

    python scripts/set_framing.py export/mobilenetv2_age benchmarks/framing_fit.json

The framing is geometry between a detector and the training chips, not a property of the weights, so a
model whose checkpoint is gone can still get a fitted one. Rewrites the card's ``preprocess.framing``
and the spec in each ONNX file's metadata (the graph is untouched); says which files it changed.
Committed reference files change only when this is run on purpose.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import onnx

from edge_age import fileio
from edge_age.data.framing_fit import load_fit
from edge_age.data.preprocess import PreprocessSpec
from edge_age.formats import META_CARD, META_SPEC


def main(folder: Path, fit: Path) -> int:
    framing, _ = load_fit(fit)
    cards = sorted(p for p in folder.glob("*.json"))
    if len(cards) != 1:
        print(f"{folder}: expected one model card, found {len(cards)}", file=sys.stderr)
        return 2
    card = json.loads(cards[0].read_text())
    spec = PreprocessSpec.from_dict(card["preprocess"])
    spec = PreprocessSpec.from_dict({**spec.to_dict(), "framing": framing.to_dict()})
    card["preprocess"] = spec.to_dict()
    fileio.write_json(cards[0], card)
    print(f"{cards[0]}: framing from {fit}")
    for path in sorted(folder.glob("*.onnx")):
        model = onnx.load(str(path))
        for entry in model.metadata_props:
            if entry.key == META_SPEC:
                entry.value = json.dumps(spec.to_dict())
            elif entry.key == META_CARD:
                meta_card = json.loads(entry.value)
                meta_card["preprocess"] = spec.to_dict()
                entry.value = json.dumps(meta_card)
        fileio.write_bytes(path, model.SerializeToString())
        print(f"{path}: metadata spec updated")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(main(Path(sys.argv[1]), Path(sys.argv[2])))
