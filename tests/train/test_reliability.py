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

from conftest import REPO, make_utk


def _train_cmd(data: Path, out: Path, cache: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "edge_age", "train", "--arch", "simplecnn", "--data", str(data), "--out", str(out), "--epochs", "4",
            "--batch-size", "8", "--threads", "1", "--no-progress", "--cache-dir", str(cache), *extra]


def _rows(out: Path) -> list[dict[str, str]]:
    with open(out / "metrics.csv") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return make_utk(tmp_path_factory.mktemp("rel") / "UTKFace", n_per_age=8)


@pytest.mark.slow
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


@pytest.mark.slow
def test_same_seed_same_metrics(data: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    for name in ("a", "b"):
        assert subprocess.run(_train_cmd(data, tmp_path / name, cache, "--epochs", "2"),
                              capture_output=True).returncode == 0
    a, b = _rows(tmp_path / "a"), _rows(tmp_path / "b")
    assert [r["val_mae"] for r in a] == [r["val_mae"] for r in b]
    assert [r["train_loss"] for r in a] == [r["train_loss"] for r in b]


def _real_faces(archive: Path, n: int) -> list[tuple[int, "np.ndarray"]]:
    """The first ``n`` UTKFace chips that the first detection pass finds alone on a plain canvas (read at
    test time). The fallback passes run only on photos where that pass finds nothing, so a group photo
    gets every face the first pass finds."""
    import tarfile

    import cv2
    import numpy as np

    from edge_age.data.faces import DetectConfig, Pass, detect_faces

    out = []
    with tarfile.open(archive) as tf:
        for m in tf:
            if not m.name.endswith(".jpg"):
                continue
            img = cv2.imdecode(np.frombuffer(tf.extractfile(m).read(), np.uint8), cv2.IMREAD_COLOR)
            canvas = np.full((400, 400, 3), 128, np.uint8)
            canvas[100:300, 100:300] = img
            if len(detect_faces(canvas, DetectConfig(passes=(Pass(),)))) == 1:
                out.append((int(Path(m.name).name.split("_")[0]), img))
            if len(out) == n:
                return out
    raise AssertionError("too few detectable faces")


def test_three_real_faces_and_no_face_under_detect_faces(real_data: Path, tmp_path: Path) -> None:
    """A group photo of three real faces gives three ages in predict and its largest face in training data;
    a photo without a face is skipped with its name, never silently."""
    import json
    import subprocess
    import sys

    import cv2
    import numpy as np

    from edge_age.data.dataset import DataConfig, load_dataset
    from edge_age.data.faces import detect_faces
    from edge_age.data.preprocess import PreprocessSpec

    faces = _real_faces(real_data, 3)
    group = np.full((500, 1100, 3), 140, np.uint8)
    for (age, img), (x, side) in zip(faces, [(60, 160), (380, 280), (800, 200)]):  # the middle one is largest
        group[100 : 100 + side, x : x + side] = cv2.resize(img, (side, side))
    nothing = np.full((400, 600, 3), 90, np.uint8)
    cv2.rectangle(nothing, (100, 100), (300, 250), (30, 160, 220), -1)
    root = tmp_path / "photos"
    for name, img in (("40/group.jpg", group), ("22/empty.jpg", nothing)):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / name), img)

    boxes = detect_faces(group)
    assert len(boxes) == 3
    assert 380 - 40 < boxes[0].x < 380 + 100  # largest first: the middle face

    model = REPO / "export" / "simplecnn" / "simplecnn_int8.tflite"
    r = subprocess.run([sys.executable, "-m", "edge_age", "predict", str(root / "40" / "group.jpg"),
                        str(root / "22" / "empty.jpg"), "--model", str(model),
                        "--json", str(tmp_path / "p.json")], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    res = json.loads((tmp_path / "p.json").read_text())["results"]
    assert sum("age" in x for x in res) == 3 and all(0 < x["age"] < 120 for x in res if "age" in x)
    assert [x["error"] for x in res if "error" in x] == ["no face found"] and "empty.jpg" in r.stderr

    ds = load_dataset(DataConfig(str(root), detect_faces=True), PreprocessSpec(), cache_dir=tmp_path / "c",
                      progress=False)
    assert list(ds.faces.ages) == [40], (ds.faces.names, ds.problems)
    assert [p.reason for p in ds.problems] == ["no face found"] and "empty.jpg" in str(ds.problems[0])
