"""Golden outputs and ``edge-age check``: a runtime that gives wrong ages on this machine is caught.

The kernel fault is simulated as the issue saw it under an emulated SME CPU: LiteRT's default
(XNNPACK) path returns about the same age for every face, while its safe path is right.
"""

from __future__ import annotations

import numpy as np
import pytest

from edge_age.cli import main
from edge_age.errors import EdgeAgeError
from edge_age.formats import bundled_reference
from edge_age.runtime import load_predictor
from edge_age.runtime.check import golden_of
from edge_age.runtime.golden import golden_inputs
from edge_age.runtime.tflite import TFLitePredictor


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGE_AGE_CACHE", str(tmp_path / "cache"))


def _collapse(monkeypatch, safe_too: bool = False) -> list[int]:
    calls = []
    real = TFLitePredictor.predict

    def predict(self, faces):
        calls.append(len(faces))
        if self.safe and not safe_too:
            return real(self, faces)
        return np.full(len(faces), 23.0, np.float32)

    monkeypatch.setattr(TFLitePredictor, "predict", predict)
    return calls


def test_golden_inputs_are_fixed_bytes() -> None:
    x = golden_inputs(64)
    assert x.shape == (8, 64, 64, 3) and x.dtype == np.uint8
    assert np.array_equal(x, golden_inputs(64)) and not np.array_equal(x[0], x[1])
    # The recipe is integer arithmetic on SplitMix64 draws: a change to it must be deliberate (cards store its ages).
    assert int(x.astype(np.int64).sum()) == 15_554_002


def test_the_reference_files_pass_on_this_machine(capsys) -> None:
    assert main(["check"]) == 0
    out = capsys.readouterr().out
    assert out.count(": ok,") == 2, out


def test_a_collapsed_default_path_falls_back_to_the_safe_one_with_one_line(monkeypatch, capsys) -> None:
    calls = _collapse(monkeypatch)
    p = load_predictor(bundled_reference())
    assert p.safe
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "safe path (LiteRT without the XNNPACK delegate)" in err, err
    ages = p.predict(golden_inputs(64))
    # The right ages (the card's, for the safe path), not the collapsed constant.
    golden = golden_of(p)
    assert np.median(np.abs(ages - np.asarray(golden["ages_safe"]))) <= float(golden["tolerance_safe"])
    assert np.abs(ages - 23.0).max() > 5
    n = len(calls)
    assert load_predictor(bundled_reference()).safe and len(calls) == n  # the verdict is cached: no re-run


def test_check_reports_the_collapse(monkeypatch, capsys) -> None:
    _collapse(monkeypatch)
    assert main(["check", str(bundled_reference())]) == 0  # usable: the safe path reproduces the card
    out = capsys.readouterr().out
    assert "MISMATCH" in out and "used instead" in out, out


def test_a_file_wrong_on_both_paths_is_refused_in_one_line(monkeypatch, capsys) -> None:
    _collapse(monkeypatch, safe_too=True)
    with pytest.raises(EdgeAgeError, match="its ages would be wrong"):
        load_predictor(bundled_reference())
    assert main(["check", str(bundled_reference())]) == 1
    assert "this file is refused" in capsys.readouterr().out
    rc = main(["predict", "--crops", str(bundled_reference()), "--model", str(bundled_reference())])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "ages would be wrong" in err, err


def test_a_card_golden_recipe_other_than_the_default_is_checked_as_stored(tmp_path, capsys) -> None:
    """A card may store any n and seed: the check makes those inputs, not the default eight."""
    import json
    import shutil

    from edge_age.runtime.golden import golden_ages

    folder = tmp_path / "ref"
    shutil.copytree(bundled_reference().parent, folder)
    card_file = folder / "mobilenetv2_age.json"
    card = json.loads(card_file.read_text())
    entry = card["files"]["tflite_int8"]
    model = folder / entry["file"]
    predictor = load_predictor(model, check=False)
    safe = TFLitePredictor(model, safe=True)
    entry["golden"].update(n=5, seed=7, ages=golden_ages(predictor, 5, 7), ages_safe=golden_ages(safe, 5, 7))
    card_file.write_text(json.dumps(card))
    assert main(["check", str(model)]) == 0
    assert ": ok, litert reproduces its 5 golden ages" in capsys.readouterr().out
    entry["golden"]["ages"] = [a + 30 for a in entry["golden"]["ages"]]  # and a wrong one is still caught
    entry["golden"]["ages_safe"] = [a + 30 for a in entry["golden"]["ages_safe"]]
    card_file.write_text(json.dumps(card))
    assert main(["check", str(model)]) == 1
