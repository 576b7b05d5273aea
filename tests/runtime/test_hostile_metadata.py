"""Issue 34 item 14: malformed cards and metadata are one-line errors naming the file, or shown as unknown."""

from __future__ import annotations

import json
import shutil
import types
from pathlib import Path

import pytest

from edge_age.cli import main
from edge_age.errors import EdgeAgeError
from edge_age.formats import META_SPEC, bundled_reference, card_path
from edge_age.runtime.card import read_card
from edge_age.runtime.catalog import format_models, list_models


def _reference_copy(folder: Path) -> Path:
    shutil.copytree(bundled_reference().parent, folder)
    return folder / bundled_reference().name


def test_a_card_nested_100k_deep_is_a_one_line_error_naming_it(tmp_path: Path, capsys) -> None:
    model = _reference_copy(tmp_path / "ref")
    card_path(model).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(EdgeAgeError) as e:
        read_card(model)
    assert e.value.path == str(card_path(model)) and "nested too deep" in e.value.reason
    face = tmp_path / "face.png"
    face.write_bytes(b"")
    rc = main(["predict", "--crops", str(face), "--model", str(model)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and str(card_path(model)) in err, err


@pytest.mark.parametrize("bad", ["6.1", None, [1], {"x": 1}, True])
def test_models_shows_a_mae_that_is_not_a_number_as_unknown(bad, tmp_path: Path) -> None:
    model = _reference_copy(tmp_path / "ref")
    card = json.loads(card_path(model).read_text())
    for entry in card["files"].values():
        entry["parity"] = {"mae": bad} if bad is not None else "parity as a string"
    card_path(model).write_text(json.dumps(card))
    rows = [r for r in list_models((str(tmp_path / "ref"),)) if r["where"] == str(tmp_path / "ref")]
    assert rows and all(r["val_mae"] is None and "problem" not in r for r in rows), rows
    table = format_models(rows)
    assert all(line.split()[3] == "-" for line in table.splitlines()[1:]), table


def _fake_session(meta: dict):
    inp = types.SimpleNamespace(name="x", shape=[1, 3, 96, 96])
    return types.SimpleNamespace(get_inputs=lambda: [inp],
                                 get_modelmeta=lambda: types.SimpleNamespace(custom_metadata_map=meta))


@pytest.mark.parametrize("text", ["not json {", "[" * 100_000, "[1, 2]", "42", '{"size": "big", "zz": 1}'])
def test_onnx_preprocess_metadata_that_is_not_a_spec_is_one_line_naming_the_file(text, tmp_path: Path,
                                                                                   monkeypatch) -> None:
    import onnxruntime as ort

    from edge_age.runtime.onnx import OnnxPredictor

    monkeypatch.setattr(ort, "InferenceSession", lambda *a, **k: _fake_session({META_SPEC: text}))
    f = tmp_path / "m.onnx"
    f.write_bytes(b"")
    with pytest.raises(EdgeAgeError) as e:
        OnnxPredictor(f)
    assert e.value.path == str(f) and META_SPEC in e.value.reason and "\n" not in str(e.value), e.value
