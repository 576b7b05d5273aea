"""Where framing fits live: `data framing --out DIR` writes DIR/framing.json, and `--framing` takes that folder,
the file itself, or a bundled fit by detector name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_age.data.commands import _fit_file
from edge_age.data.framing_fit import BUNDLED_FITS, FIT_FILE, fit_path, load_fit
from edge_age.errors import EdgeAgeError
from edge_age.formats import bundled_reference


def test_data_framing_out_is_a_folder_and_the_old_file_spelling_still_works(tmp_path: Path, capsys) -> None:
    assert _fit_file(tmp_path / "fit") == tmp_path / "fit" / FIT_FILE
    assert capsys.readouterr().err == ""
    assert _fit_file(tmp_path / "old.json") == tmp_path / "old.json"
    assert "--out names a folder now" in capsys.readouterr().err


def test_framing_names_a_folder_a_file_or_a_bundled_fit(tmp_path: Path, monkeypatch) -> None:
    bundled = bundled_reference().parent / BUNDLED_FITS["mtcnn"]
    fit = json.loads(bundled.read_text())
    folder = tmp_path / "fit"
    folder.mkdir()
    (folder / FIT_FILE).write_text(json.dumps(fit))
    monkeypatch.chdir(tmp_path)
    assert fit_path("mtcnn") == bundled
    assert load_fit("blazeface")[0].detector == "blazeface"  # each bundled fit is its detector's
    assert fit_path(folder) == folder / FIT_FILE
    assert fit_path(folder / FIT_FILE) == folder / FIT_FILE
    assert load_fit(folder) == load_fit("mtcnn") == load_fit(bundled)
    (tmp_path / "mtcnn").mkdir()  # a folder of the user's own by that name wins over the bundled fit
    with pytest.raises(EdgeAgeError, match="cannot read the framing file"):
        load_fit("mtcnn")


@pytest.mark.parametrize("key, bad, field", [
    ("scale", {"p05": float("nan"), "p95": 1.1}, "summary.residuals.scale.p05 must be a finite number"),
    ("angle", {"p05": -4.0, "p95": float("inf")}, "summary.residuals.angle.p95 must be a finite number"),
    ("shift_x", {"p05": -0.03, "p95": "0.03"}, "summary.residuals.shift_x.p95 must be a finite number"),
    ("scale", {"p05": 0.1, "p95": 9.0}, r"summary.residuals.scale: range \[0.1, 9.0\] is outside 0.5..2.0"),
    ("shift_y", {"p05": -3.0, "p95": 0.03}, "summary.residuals.shift_y: range .* is outside -0.5..0.5"),
    ("angle", {"p05": -170.0, "p95": 170.0}, "summary.residuals.angle: range .* is outside -45.0..45.0"),
    ("shift_x", {"p05": 0.03, "p95": -0.03}, "summary.residuals.shift_x: p05 0.03 is above p95 -0.03"),
])
def test_framing_file_with_absurd_jitter_ranges_is_one_line_naming_file_and_field(
        key: str, bad: dict, field: str, tmp_path: Path) -> None:
    """Issue 34 #9: a fit whose residual ranges are NaN or huge would jitter training crops off the face."""
    fit = json.loads((bundled_reference().parent / BUNDLED_FITS["mtcnn"]).read_text())
    fit["summary"]["residuals"][key].update(bad)
    path = tmp_path / FIT_FILE
    path.write_text(json.dumps(fit))  # NaN and Infinity as Python's json writes them, and json.loads reads them
    with pytest.raises(EdgeAgeError, match=field) as e:
        load_fit(path)
    assert e.value.path == str(path) and "\n" not in str(e.value)


def test_framing_file_with_a_bad_framing_field_names_the_file(tmp_path: Path) -> None:
    fit = json.loads((bundled_reference().parent / BUNDLED_FITS["mtcnn"]).read_text())
    fit["framing"]["box_scale"] = float("nan")
    path = tmp_path / FIT_FILE
    path.write_text(json.dumps(fit))
    with pytest.raises(EdgeAgeError, match="framing field box_scale must be a finite number") as e:
        load_fit(path)
    assert e.value.path == str(path)
