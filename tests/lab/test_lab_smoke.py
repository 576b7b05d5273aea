"""The scripts in lab/ and benchmarks/ that import edge_age internals still run after a change inside the package.

They are not part of the product, so nothing else imports them: a rename in edge_age would break one silently.
Each is started as its README runs it (``python lab/X.py``, from the repository root) with ``--help``, which
imports everything it needs; two of them also run on tiny generated input.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

# script -> the optional packages it needs beyond the runtime install (skipped where they are missing)
SCRIPTS = {
    "lab/blazeface_cascade.py": (),
    "lab/blazeface_gate.py": (),
    "lab/blazeface_short_range.py": (),
    "lab/challenge25.py": (),
    "lab/crop_cost.py": (),
    "lab/crop_experiments.py": (),
    "lab/detector_compare.py": (),
    "lab/detector_passes.py": (),
    "lab/flip_average.py": (),
    "lab/framing_choices.py": (),
    "lab/head_readout.py": ("torch",),
    "lab/interval_methods.py": (),
    "lab/interval_quality.py": (),
    "lab/interval_signals.py": ("torch",),
    "lab/interval_split_noise.py": (),
    "lab/interval_spread.py": ("torch",),
    "lab/photo_gap.py": (),
    "lab/profile_onnx.py": (),
    "lab/stem_padding.py": ("onnx", "torch"),
    "lab/train_throughput.py": ("torch",),
    "benchmarks/collect.py": (),
    "benchmarks/cross_source.py": (),
    "benchmarks/robustness.py": (),
    "benchmarks/video_still.py": (),
}


def _run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_every_lab_script_is_listed() -> None:
    """A new lab script that imports edge_age gets a smoke test: this list is the lab's scripts, all of them."""
    importing = {f"lab/{p.name}" for p in (REPO / "lab").glob("*.py") if "edge_age" in p.read_text()}
    assert importing <= set(SCRIPTS), sorted(importing - set(SCRIPTS))


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_script_help_runs(script: str) -> None:
    for module in SCRIPTS[script]:
        pytest.importorskip(module)
    assert (REPO / script).is_file(), script
    r = _run(script, "--help")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "usage" in r.stdout.lower() or "python benchmarks/collect.py" in r.stdout, r.stdout[:500]


def test_lab_scripts_are_indexed() -> None:
    """Every file and folder in lab/ has its line in lab/README.md (``X.md`` / ``.json`` names both)."""
    index = (REPO / "lab" / "README.md").read_text()
    missing = [p.name for p in (REPO / "lab").iterdir()
               if p.name not in ("README.md", "__pycache__") and f"`{p.name}" not in index
               and f"`{p.stem}." not in index]
    assert not missing, missing


def test_interval_split_noise_on_made_up_estimates(tmp_path: Path) -> None:
    """Refits on made-up cached estimates (interval_methods' val.json / test.json) and reports every kind."""
    rng = np.random.default_rng(0)
    names = ["aligned", "in context", *(f"degraded {k}" for k in range(7)), "aaf"]
    for split in ("val", "test"):
        sets = {}
        for k, name in enumerate(names):
            age = rng.uniform(1, 80, 300)
            sets[name] = {"age": age.tolist(), "estimate": (age + rng.normal(0, 3 + 0.1 * age + k / 5)).tolist()}
        (tmp_path / f"{split}.json").write_text(json.dumps(sets))
    out = tmp_path / "noise.json"
    r = _run("lab/interval_split_noise.py", "--work", str(tmp_path), "--seeds", "3", "--json", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(out.read_text())
    assert set(result["test_coverage_over_seeds"]) == set(names) and len(result["degradations_met_per_seed"]) == 3
    for s in result["test_coverage_over_seeds"].values():
        assert 0.6 < s["min"] <= s["median"] <= s["max"] < 1.0


def _predictions(path: Path, estimates: list[float]) -> Path:
    ages = [13, 14, 15, 16, 17, 30]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "age", "estimate", "error", "interval_lo", "interval_hi"])
        for k, (age, est) in enumerate(zip(ages, estimates)):
            w.writerow([f"face{k}.jpg", age, est, est - age, "", ""])
    return path


def test_challenge25_on_tiny_tables(tmp_path: Path) -> None:
    a = _predictions(tmp_path / "a.csv", [14.0, 26.0, 15.0, 18.0, 25.5, 31.0])
    b = _predictions(tmp_path / "b.csv", [13.5, 24.0, 16.0, 27.0, 25.0, 29.0])
    out = tmp_path / "c25"
    r = _run("lab/challenge25.py", f"A={a}", f"B={b}", "--out", str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    result = json.loads(out.with_suffix(".json").read_text())
    assert result["n"] == 5
    assert result["per_model"] == {"A": {"fail": 2, "tpr": 0.6}, "B": {"fail": 2, "tpr": 0.6}}
    assert result["failed_by_all"] == 1 and result["failed_by_any"] == 3
    assert ".jpg" not in out.with_suffix(".md").read_text() + out.with_suffix(".json").read_text()  # no file names


def test_collect_rebuilds_the_committed_training_tables(tmp_path: Path) -> None:
    """benchmarks/training.md and lab/training_history.md are what collect.py makes of lab/training_history.json."""
    pytest.importorskip("edge_age.fileio")
    lab, out = tmp_path / "lab", tmp_path / "benchmarks"
    out.mkdir()
    spec = importlib.util.spec_from_file_location("collect", REPO / "benchmarks" / "collect.py")
    collect = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(collect)
    (lab / collect.REFERENCE_VAL).parent.mkdir(parents=True)
    shutil.copy(REPO / "lab" / "training_history.json", lab)
    shutil.copy(REPO / "lab" / collect.REFERENCE_VAL, lab / collect.REFERENCE_VAL)  # what the reference was chosen on
    collect.training([], lab=lab, out=out)
    assert (out / "training.md").read_text() == (REPO / "benchmarks" / "training.md").read_text()
    assert (lab / "training_history.md").read_text() == (REPO / "lab" / "training_history.md").read_text()
    shipped = json.loads((out / "training.json").read_text())
    assert [r["recipe"] for r in shipped] == list(collect.SHIPPED.values())
    for recipe in collect.SHIPPED.values():
        assert (REPO / "edge_age" / "recipes" / f"{recipe}.toml").is_file(), recipe
