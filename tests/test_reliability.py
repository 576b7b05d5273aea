"""kill -9 in the middle of an epoch loses at most that epoch; same seed, same data, same metrics."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import make_utk


def _train_cmd(data: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "edge_age", "train", "--data", str(data), "--out", str(out), "--epochs", "4",
            "--batch-size", "8", "--threads", "1", "--no-progress", "--cache-dir", str(cache), *extra]


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "metrics.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_utk(tmp_path_factory.mktemp("rel") / "UTKFace", n_per_age=8)


def test_kill_9_mid_epoch_then_resume(data: Path, tmp_path: Path) -> None:
    out, cache = tmp_path / "run", tmp_path / "cache"
    straight = tmp_path / "straight"
    assert subprocess.run(_train_cmd(data, straight, cache), capture_output=True).returncode == 0
    proc = subprocess.Popen(_train_cmd(data, out, cache), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Wait until epoch 2 has been written, then kill without warning during epoch 3.
    for line in proc.stdout:
        if line.startswith("epoch 2/4"):
            time.sleep(0.3)
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert 2 <= len(_rows(out)) <= 3  # at most the epoch in flight is lost
    assert not list(out.glob(".*.tmp")), "a half-written file was left behind"
    r = subprocess.run(_train_cmd(data, out, cache, "--resume"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    a, b = _rows(straight), _rows(out)
    assert len(b) == 4
    for ra, rb in zip(a, b):  # the resumed run replays exactly what the uninterrupted one did
        assert float(ra["val_mae"]) == pytest.approx(float(rb["val_mae"]), abs=1e-3)


def test_same_seed_same_metrics(data: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    for name in ("a", "b"):
        assert subprocess.run(_train_cmd(data, tmp_path / name, cache, "--epochs", "2"),
                              capture_output=True).returncode == 0
    a, b = _rows(tmp_path / "a"), _rows(tmp_path / "b")
    assert [r["val_mae"] for r in a] == [r["val_mae"] for r in b]
    assert [r["train_loss"] for r in a] == [r["train_loss"] for r in b]
