"""The command line: help, data report, eval, and one-line errors with a non-zero exit."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge_age.cli import main
from edge_age.data.dataset import DataConfig
from edge_age.train.loop import TrainConfig, train


def test_help_lists_every_command(capsys) -> None:
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    import argparse

    from edge_age.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    listed = [a.dest for a in sub._choices_actions]
    assert listed == ["data", "train", "eval", "export", "calibrate", "predict", "models", "check", "bench"]
    for action in sub._choices_actions:  # each command's one-line help, not just its name
        assert action.help and " ".join(action.help.split()) in text, action.dest


def test_data_report_writes_files(utk_dir: Path, cache_dir: Path, tmp_path: Path) -> None:
    # Plant an exact duplicate and an unreadable file: both must be reported.
    src = sorted(utk_dir.glob("30_*"))[0]
    (utk_dir / "30_1_1_20179999999999.jpg.chip.jpg").write_bytes(src.read_bytes())
    (utk_dir / "44_0_0_20170000000001.jpg.chip.jpg").write_bytes(b"\xff\xd8\xff broken")
    out = tmp_path / "report"
    rc = main(["data", "report", "--data", str(utk_dir), "--out", str(out), "--cache-dir", str(cache_dir),
               "--no-progress"])
    assert rc == 0
    r = json.loads((out / "report.json").read_text())
    assert r["scheme"] == "utkface" and r["labeled"] == 62 and r["readable"] == 61
    assert sum(v["n"] for v in r["splits"].values()) == 61
    assert any("44_0_0" in u for u in r["unreadable"])
    assert any(any("30_1_1_2017999" in n for n in g) for g in r["exact_duplicates"])
    for f in ("report.md", "age_histogram.png", "samples.png"):
        assert (out / f).stat().st_size > 100


def test_eval_checkpoint_writes_metrics_and_plots(utk_dir: Path, cache_dir: Path, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    train(TrainConfig(out=str(run), epochs=1, batch_size=16, threads=1), DataConfig(str(utk_dir)),
          progress=False, cache_dir=cache_dir, log=lambda s: None)
    js = tmp_path / "m.json"
    rc = main(["eval", str(run / "best.pt"), "--data", str(utk_dir), "--split", "all",
               "--json", str(js), "--cache-dir", str(cache_dir), "--no-progress", "--out", str(tmp_path / "ev")])
    assert rc == 0
    m = json.loads(js.read_text())["metrics"]
    assert m["n"] == 60 and m["mae"] > 0 and 0 <= m["cs5"] <= 1 and m["rmse"] >= m["mae"]
    assert "MAE" in capsys.readouterr().out
    plots = tmp_path / "ev"
    assert (plots / "scatter.png").is_file() and (plots / "confusion.png").is_file()


@pytest.mark.parametrize("argv,match", [
    (["train", "--data", "/nonexistent/faces", "--epochs", "1"], "/nonexistent/faces: no such file"),
    (["eval", "/nonexistent/best.pt"], "/nonexistent/best.pt: no such model file"),
])
def test_errors_are_one_line_without_traceback(argv: list[str], match: str, tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "edge_age", *argv], capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 2
    assert match in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_foreign_checkpoint_is_refused(tmp_path: Path) -> None:
    import torch

    bad = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, bad)
    r = subprocess.run([sys.executable, "-m", "edge_age", "eval", str(bad)], capture_output=True, text=True)
    assert r.returncode == 2 and "not an edge-age checkpoint" in r.stderr
    (tmp_path / "trunc.pt").write_bytes(b"PK\x03\x04garbage")
    r = subprocess.run([sys.executable, "-m", "edge_age", "eval", str(tmp_path / "trunc.pt")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "not a readable PyTorch checkpoint" in r.stderr
