"""`edge-age calibrate` (issue 36): an export's intervals re-fitted on pooled faces of several kinds, written into a new
folder with the files unchanged; the model's own folder is never written; what it was calibrated on is recorded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from edge_age.cli import main


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def _scenes(data: Path, out: Path) -> Path:
    """Real faces placed in scenes (`data wild`): photos for --photos that a detector finds faces in."""
    assert main(["data", "wild", "--data", str(data), "--split", "test", "--out", str(out), "--no-progress",
                 "--limit", "300"]) == 0
    return out


@pytest.mark.realdata
def test_calibrate_refits_every_file_into_a_new_folder(exported: dict, real_data: Path, tmp_path: Path, capsys) -> None:
    scenes = _scenes(real_data, tmp_path / "wild")
    before = _digest(exported["out"])
    out = tmp_path / "calibrated"
    rc = main(["calibrate", str(exported["out"]), "--data", str(exported["data"]), "--photos", str(scenes),
               "--degrade", "--degrade-limit", "10", "--cache-dir", str(exported["cache"]), "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert _digest(exported["out"]) == before  # the model's folder is read, never written
    card = json.loads((out / f"{exported['card'].name}.json").read_text())
    old = json.loads((exported["out"] / f"{exported['card'].name}.json").read_text())
    for fmt, entry in card["files"].items():
        assert (out / entry["file"]).read_bytes() == (exported["out"] / entry["file"]).read_bytes()
        iv = entry["interval"]
        assert iv["scale"] and iv["method"].startswith("conformal on error / scale")
        kinds = [r.get("degradation", r["split"]) for r in iv["calibrated_on"]]
        assert kinds[:2] == ["val", "all"] and len(kinds) == 2 + 7, kinds  # data, photos, 7 degradations of them
        assert iv["command"].startswith("edge-age calibrate")
        assert iv != old["files"][fmt]["interval"]
    # the calibrated folder is a model like any other: eval scores its intervals, predict gives them
    m = tmp_path / "m.json"
    f = next(p for p in out.iterdir() if p.name.endswith("_int8.tflite"))
    assert main(["eval", str(f), "--data", str(exported["data"]), "--split", "test", "--json", str(m),
                 "--cache-dir", str(exported["cache"]), "--no-progress", "--out", str(tmp_path / "ev")]) == 0
    iv = json.loads(m.read_text())["metrics"]["interval"]
    assert 0 <= iv["coverage"] <= 1 and "width_error_spearman" in iv


def test_calibrate_refuses_what_it_cannot_do_in_one_line(exported: dict, tmp_path: Path, capsys) -> None:
    """Each refusal is one line naming the file or option, before any face is scored; the model is never written."""
    model, data = str(exported["out"]), str(exported["data"])
    (tmp_path / "a_file").write_text("x")
    cases = [
        ([model, "--out", model, "--data", data], "never over a model"),
        ([model, "--out", str(tmp_path / "a")], "nothing to calibrate on"),
        ([model, "--out", str(tmp_path / "b"), "--photos", str(tmp_path / "none")], "--photos: no such folder"),
        ([model, "--out", str(tmp_path / "c"), "--data", data, "--degrade"], "give --photos"),
        ([model, "--out", str(tmp_path / "a_file"), "--data", data], "--out names a folder"),
        ([str(tmp_path / "missing.tflite"), "--out", str(tmp_path / "d"), "--data", data], "no such model file"),
        ([str(tmp_path), "--out", str(tmp_path / "e"), "--data", data], "model cards"),
        ([model, "--out", str(tmp_path / "f"), "--data", data], "too few faces to calibrate on"),  # its 17 val faces
    ]
    for argv, said in cases:
        before = _digest(exported["out"])
        rc = main(["calibrate", *argv, "--cache-dir", str(exported["cache"]), "--no-progress"])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and said in err and len(err.splitlines()) == 1, (said, err)
        assert _digest(exported["out"]) == before
    with pytest.raises(SystemExit):  # not among --split's choices: argparse's usage error
        main(["calibrate", model, "--out", str(tmp_path / "g"), "--data", data, "--split", "train"])
    capsys.readouterr()


def test_calibrate_keeps_only_the_files_it_calibrated_in_the_new_card(exported: dict, tmp_path: Path) -> None:
    """A folder holding some of its card's files (the bundled int8-only reference): the new card lists those only."""
    import shutil

    part = tmp_path / "part"
    part.mkdir()
    name = exported["card"].name
    for f in (f"{name}.json", f"{name}_int8.tflite"):
        shutil.copy2(exported["out"] / f, part / f)
    out = tmp_path / "cal"
    assert main(["calibrate", str(part), "--data", str(exported["data"]), "--split", "all", "--cache-dir",
                 str(exported["cache"]), "--out", str(out), "--no-progress"]) == 0
    card = json.loads((out / f"{name}.json").read_text())
    assert list(card["files"]) == ["tflite_int8"] and sorted(p.name for p in out.iterdir()) == sorted(
        [f"{name}.json", f"{name}_int8.tflite"])


def test_calibrate_weighs_its_sets_as_told(exported: dict, tmp_path: Path, capsys) -> None:
    """Two sets of different sizes pooled (the fixture's faces and a copy of 60 of them): by default each set counts
    equally (the card says so) and the fit differs from --weigh faces, where each face counts once; the log gives each
    set's coverage either way."""
    import shutil

    few = tmp_path / "few"
    few.mkdir()
    for p in sorted(exported["data"].glob("*.jpg"))[:60]:
        shutil.copy2(p, few / p.name)

    def run(*extra: str) -> dict:
        out = tmp_path / ("cal" + "".join(extra).replace("-", ""))
        assert main(["calibrate", str(exported["out"]), "--data", str(exported["data"]), "--data", str(few),
                     "--split", "all", "--cache-dir", str(exported["cache"]), "--out", str(out), "--no-progress",
                     *extra]) == 0
        return json.loads((out / f"{exported['card'].name}.json").read_text())["files"]["onnx_int8"]["interval"]

    by_set = run()
    log = capsys.readouterr().out
    assert by_set["method"].endswith("each calibration set weighted equally")
    line = next(x for x in log.splitlines() if "per set (in sample)" in x)
    assert line.count(", ") == 1, line  # one coverage per set
    by_face = run("--weigh", "faces")
    assert "weighted" not in by_face["method"]
    assert (by_set["scale"], by_set["bands"]) != (by_face["scale"], by_face["bands"])


def test_a_scaled_card_written_by_calibrate_gives_the_same_interval_in_predict(exported: dict, tmp_path: Path) -> None:
    """The runtime reads the scale wherever it reads an interval (predict, video, eval): one function."""
    from edge_age.runtime import intervals, load_predictor
    from edge_age.runtime.card import file_entry

    out = tmp_path / "cal"
    assert main(["calibrate", str(exported["out"]), "--data", str(exported["data"]), "--split", "all", "--cache-dir",
                 str(exported["cache"]), "--out", str(out)]) == 0
    f = next(p for p in out.iterdir() if p.name.endswith("_int8.onnx"))
    fitted = file_entry(load_predictor(f))["interval"]
    lo, hi = intervals.interval(np.array([2.0, 30.0, 70.0]), fitted)
    assert np.all(hi >= lo) and np.all(lo >= 0)


def test_eval_degrade_scores_each_input_kind_and_reports_it(exported: dict, tmp_path: Path, capsys) -> None:
    """eval --degrade (issue 36 item 5): the same images as they are and under each photo degradation, one line per
    kind on the console, a reliability table in --report, ``by_degradation`` in the JSON; seeded (a re-run gives the
    same figures)."""
    model = next(p for p in exported["out"].iterdir() if p.name.endswith("_int8.tflite"))
    runs = []
    for k in range(2):
        js = tmp_path / f"m{k}.json"
        assert main(["eval", str(model), "--data", str(exported["data"]), "--split", "all", "--degrade",
                     "--degrade-limit", "12", "--json", str(js), "--cache-dir", str(exported["cache"]), "--no-progress",
                     "--out", str(tmp_path / f"ev{k}"), "--report", str(tmp_path / f"rep{k}")]) == 0
        runs.append(json.loads(js.read_text())["metrics"]["by_degradation"])
    out = capsys.readouterr().out
    d = runs[0]
    assert d == runs[1] and d["photos"] == 12 and len(d["kinds"]) == 8 and "as they are" in d["kinds"]
    assert all(0 <= r["interval"]["coverage"] <= 1 and r["n"] >= 1 for r in d["kinds"].values())
    assert "under photo degradations" in out and "motion blur" in out
    assert "## Reliability per input kind" in (tmp_path / "rep0" / "report.md").read_text()
