"""The runtime-only install as a Raspberry Pi user has it: no torch, no matplotlib, no onnx, an empty folder.

Each command runs in a subprocess where those packages cannot be imported (as after ``pip install
edge-age`` without extras), from a folder with no ``export/``: the bundled reference model is found,
missing extras are one line naming the install, and stderr carries no third-party log line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, face_image, make_utk, write_jpg
from edge_age.formats import FORMATS, bundled_reference, reference_file

MISSING = ("torch", "torchvision", "matplotlib", "onnx")


def _runtime_only(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    code = (f"import sys\nfor m in {MISSING!r}: sys.modules[m] = None\n"
            "from edge_age.cli import main\n"
            f"raise SystemExit(main({args!r}))\n")
    env = {**os.environ, "EDGE_AGE_CACHE": str(cwd / ".edge-age-cache")}  # verdicts and faces stay in the test's folder
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd, env=env)


def test_the_bundled_reference_is_the_committed_one() -> None:
    bundled = [f for f in FORMATS if bundled_reference(f.name).is_file()]
    assert {f.name for f in bundled} == {"tflite_int8", "onnx_int8"}
    for f in bundled:
        assert bundled_reference(f.name).read_bytes() == reference_file(REPO, f.name).read_bytes(), f.name
    card = "mobilenetv2_age.json"
    assert (bundled_reference().parent / card).read_bytes() == (reference_file(REPO).parent / card).read_bytes()


def test_predict_from_an_empty_folder_uses_the_bundled_model_and_says_nothing_else(tmp_path: Path) -> None:
    write_jpg(tmp_path / "face.jpg", face_image(30, 0, size=96))
    r = _runtime_only(["predict", "--crops", "face.jpg", "--json", "out.json"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip().splitlines() == [
        "1 image(s), 1 face(s), 0 skipped  [mobilenetv2_age_int8.tflite, litert]"], r.stderr
    out = json.loads((tmp_path / "out.json").read_text())
    assert Path(out["model"]) == bundled_reference() and out["results"][0]["age"] > 0


def test_bench_without_onnx_or_matplotlib_benches_the_bundled_model(tmp_path: Path) -> None:
    r = _runtime_only(["bench", "--threads", "1", "--runs", "2", "--warmup", "0", "--min-seconds", "0",
                       "--json", "b.json", "--plot", "b.png"], tmp_path)
    assert r.returncode == 0, r.stderr
    result = json.loads((tmp_path / "b.json").read_text())
    assert sorted(row["format"] for row in result["rows"]) == ["onnx_int8", "tflite_int8"]
    assert result["peak"]["1"]["int8_gmacs"] > 0  # measured with no onnx package (JSON keys are strings)
    assert r.stderr.strip().splitlines() == ["edge-age: b.png not written: no plots: they need matplotlib "
                                             "(pip install 'edge-age[plot]')"], r.stderr
    assert not (tmp_path / "b.png").exists()


@pytest.mark.parametrize("args", [["train", "--data", "faces"], ["export", "best.pt"],
                                  ["bench", "--baselines", "--runs", "1"]], ids=["train", "export", "baselines"])
def test_a_command_that_needs_the_train_extra_says_so_in_one_line(args: list[str], tmp_path: Path) -> None:
    make_utk(tmp_path / "faces", n_per_age=1)
    (tmp_path / "best.pt").write_bytes(b"not used")
    r = _runtime_only(args, tmp_path)
    err = r.stderr.strip()
    assert r.returncode == 2 and len(err.splitlines()) == 1 and "edge-age[train]" in err, err


def test_eval_without_matplotlib_says_the_plots_need_the_extra(tmp_path: Path) -> None:
    make_utk(tmp_path / "faces", n_per_age=1)
    r = _runtime_only(["eval", str(bundled_reference()), "--data", "faces", "--split", "all", "--no-progress"],
                      tmp_path)
    assert r.returncode == 0, r.stderr
    assert "no plots: they need matplotlib (pip install 'edge-age[plot]')" in r.stdout
    assert r.stderr.strip() == "", r.stderr


def test_models_lists_the_bundled_reference_first(tmp_path: Path) -> None:
    r = _runtime_only(["models", "--json", "m.json"], tmp_path)
    assert r.returncode == 0, r.stderr
    rows = json.loads((tmp_path / "m.json").read_text())["models"]
    assert [Path(r["file"]) for r in rows] == [bundled_reference("onnx_int8"), bundled_reference("tflite_int8")]
    assert rows[1]["where"].startswith("bundled (default of predict)") and rows[1]["input"] == 64
