"""Add golden outputs to the card of an export made before they existed (``edge-age export`` writes them).

    python scripts/add_golden.py export/mobilenetv2_age && cp export/mobilenetv2_age/*.json edge_age/reference/

For each file of the card that is present, the ages of its runtime's default and safe paths on the
seeded synthetic inputs (edge_age.runtime.golden) are computed on this machine and stored; nothing
else in the card changes. Run it on the machine kind that made the export (x86-64 here).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from edge_age.formats import get_format
from edge_age.runtime.card import ModelCard
from edge_age.runtime.golden import golden_entry


def add_golden(folder: Path) -> None:
    card_file = next(folder.glob("*.json"))
    card = ModelCard.from_dict(json.loads(card_file.read_text()))
    for name, entry in card.files.items():
        path = folder / entry["file"]
        if not path.is_file():
            continue
        fmt = get_format(name)
        cls = fmt.load_predictor()
        entry["golden"] = golden_entry(cls(path), cls(path, safe=True), fmt.family, fmt.precision)
        print(f"{path}: golden ages {entry['golden']['ages']}")
    card.write(card_file)


if __name__ == "__main__":
    for arg in sys.argv[1:]:
        add_golden(Path(arg))
