"""The model card is validated whole when it is read (issue 34, item 7): non-finite numbers anywhere,
inverted or absurd intervals, NaN golden ages or tolerances and flags that are not true/false are each
refused in one line naming the card file and the field; and ``--max-uncertainty`` never passes a face whose
interval is not finite or is inverted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edge_age.cli import main
from edge_age.data.framing import Square
from edge_age.errors import EdgeAgeError
from edge_age.formats import bundled_reference, card_path
from edge_age.runtime.card import read_card
from edge_age.runtime.predict import Face, _face_result
from edge_age.runtime.predict_config import PredictConfig

NAN, INF = float("nan"), float("inf")


def _bands(c: dict) -> list:
    return c["files"]["tflite_int8"]["interval"]["bands"]


def _golden(c: dict) -> dict:
    return c["files"]["tflite_int8"]["golden"]


def _set(d: dict, key, value) -> None:
    d[key] = value


# case -> (edit of the card, the field the one-line error must name)
CARDS = {
    "interval_err_nan": (lambda c: _set(_bands(c)[0], "err", [NAN, 1.3]), "files.tflite_int8.interval.bands[0].err"),
    "interval_err_inf": (lambda c: _set(_bands(c)[3], "err", [-9.0, INF]), "files.tflite_int8.interval.bands[3].err"),
    "interval_inverted": (lambda c: _set(_bands(c)[2], "err", [5.0, -3.0]), "files.tflite_int8.interval.bands[2].err"),
    "interval_absurd": (lambda c: _set(_bands(c)[1], "err", [-1e6, 1e6]), "files.tflite_int8.interval.bands[1].err"),
    "interval_from_nan": (lambda c: _set(_bands(c)[1], "from", NAN), "files.tflite_int8.interval.bands[1].from"),
    "interval_level_nan": (lambda c: _set(c["files"]["tflite_int8"]["interval"], "level", NAN),
                           "files.tflite_int8.interval.level"),
    "interval_level_7": (lambda c: _set(c["files"]["tflite_int8"]["interval"], "level", 7),
                         "files.tflite_int8.interval.level"),
    "golden_age_nan": (lambda c: _golden(c)["ages"].__setitem__(3, NAN), "files.tflite_int8.golden.ages[3]"),
    "golden_tolerance_nan": (lambda c: _set(_golden(c), "tolerance", NAN), "files.tflite_int8.golden.tolerance"),
    "golden_tolerance_negative": (lambda c: _set(_golden(c), "tolerance", -1.0), "files.tflite_int8.golden.tolerance"),
    "golden_tolerance_huge": (lambda c: _set(_golden(c), "tolerance_safe", 1e9),
                              "files.tflite_int8.golden.tolerance_safe"),
    "denoise_string": (lambda c: _set(c["preprocess"], "denoise", "no"), "denoise"),
    "deblur_number": (lambda c: _set(c["preprocess"], "deblur", 0), "deblur"),
    "input_pixels_string": (lambda c: _set(c["preprocess"], "input_pixels", "false"), "input_pixels"),
    "framing_nan": (lambda c: _set(c["preprocess"]["framing"], "box_scale", NAN), "preprocess.framing.box_scale"),
    "output_shape_two": (lambda c: _set(c["files"]["tflite_int8"]["output"], "shape", [1, 2]),
                         "files.tflite_int8.output.shape"),
    "checkpoint_mae_inf": (lambda c: _set(c["checkpoint"], "val_mae", -INF), "checkpoint.val_mae"),
}


def _hostile_card(folder: Path, edit) -> Path:
    """A copy of the bundled reference's folder with its card edited; the TFLite int8 file in it."""
    shutil.copytree(bundled_reference().parent, folder)
    card_file = card_path(folder / bundled_reference().name)
    card = json.loads(card_file.read_text())
    edit(card)
    card_file.write_text(json.dumps(card))  # Python writes NaN/Infinity as the bare tokens a hostile card has
    return folder / bundled_reference().name


@pytest.mark.parametrize("case", sorted(CARDS))
def test_a_card_is_validated_whole_when_read(case: str, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("EDGE_AGE_CACHE", str(tmp_path / "cache"))
    edit, field = CARDS[case]
    model = _hostile_card(tmp_path / "ref", edit)
    with pytest.raises(EdgeAgeError) as e:
        read_card(model)
    assert e.value.path == str(card_path(model)) and field in e.value.reason, e.value
    face = tmp_path / "face.png"
    face.write_bytes(b"")  # never read: the model is refused first
    rc = main(["predict", "--crops", str(face), "--model", str(model)])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and str(card_path(model)) in err and field in err, err


def test_the_bundled_card_is_valid() -> None:
    card = read_card(bundled_reference())
    assert card is not None and card.files["tflite_int8"]["interval"]["bands"]


def _face() -> Face:
    return Face(None, Square(32.0, 32.0, 64.0), np.zeros((64, 64, 3), np.uint8))


@pytest.mark.parametrize("err", [[NAN, 1.0], [-2.0, NAN], [6.0, -6.0], [-INF, 1.0]])
def test_max_uncertainty_never_passes_a_face_whose_interval_is_not_finite_or_inverted(err: list) -> None:
    """The card refuses such intervals when read; this is the gate's own guard, for an interval from anywhere."""
    fitted = {"level": 0.8, "bands": [{"from": 0, "err": err}]}
    cfg = PredictConfig(images=("x.png",), max_uncertainty=50.0)
    line, r = _face_result(Path("x.png"), _face(), 30.0, fitted, cfg)
    assert r["abstained"] and r["age"] is None and "abstained" in line, (line, r)
    sane = {"level": 0.8, "bands": [{"from": 0, "err": [-6.0, 6.0]}]}  # 12 years wide: passes a 50-year gate
    assert _face_result(Path("x.png"), _face(), 30.0, sane, cfg)[1]["abstained"] is None
