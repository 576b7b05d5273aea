"""Issue 34 item 14: a checkpoint missing its weights, or with fields of the wrong type, is one line naming it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from edge_age.data.preprocess import PreprocessSpec
from edge_age.errors import EdgeAgeError
from edge_age.models import create_model
from edge_age.models.checkpoint import FORMAT, TorchPredictor, build_model, load_checkpoint


def _payload() -> dict:
    model = create_model("simplecnn", pretrained=False)
    return {"format": FORMAT, "version": 1, "model": "simplecnn", "preprocess": PreprocessSpec().to_dict(),
            "state_dict": model.state_dict()}


CASES = {
    "no_state_dict": (lambda p: p.pop("state_dict"), "'state_dict'"),
    "model_a_list": (lambda p: p.update(model=["simplecnn"]), "'model'"),
    "state_dict_a_list": (lambda p: p.update(state_dict=[1, 2]), "'state_dict'"),
    "no_preprocess": (lambda p: p.pop("preprocess"), "'preprocess'"),
    "model_kwargs_a_string": (lambda p: p.update(model_kwargs="x"), "'model_kwargs'"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_malformed_checkpoint_is_one_line_naming_it(case: str, tmp_path: Path) -> None:
    edit, field = CASES[case]
    payload = _payload()
    edit(payload)
    f = tmp_path / "bad.pt"
    torch.save(payload, f)
    with pytest.raises(EdgeAgeError) as e:
        TorchPredictor(f)
    assert e.value.path == str(f) and field in e.value.reason and "\n" not in str(e.value), e.value


def test_a_sound_checkpoint_still_loads(tmp_path: Path) -> None:
    f = tmp_path / "ok.pt"
    torch.save(_payload(), f)
    assert TorchPredictor(f).model is not None
    assert build_model(load_checkpoint(f), f) is not None
