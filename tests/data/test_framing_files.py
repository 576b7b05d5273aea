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
