"""Read an exported model's card (the JSON beside it) and the preprocessing spec inside it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from edge_age.data.preprocess import PreprocessSpec
from edge_age.errors import EdgeAgeError
from edge_age.formats import card_path


def read_card(model_file: str | Path, required: bool = True) -> dict[str, Any] | None:
    path = card_path(model_file)
    if not path.exists():
        if required:
            raise EdgeAgeError(f"model card {path.name} not found beside it; keep the exported folder together",
                               model_file)
        return None
    try:
        card = json.loads(path.read_text())
        PreprocessSpec.from_dict(card["preprocess"])
    except (ValueError, KeyError, TypeError) as e:
        raise EdgeAgeError(f"model card is not valid edge-age JSON ({e})", path) from e
    return card
