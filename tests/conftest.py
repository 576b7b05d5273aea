"""Shared fixtures: small generated datasets in every label format, and the real UTKFace archive."""

from __future__ import annotations

import os
import tarfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_DATA = Path(os.environ.get("EDGE_AGE_DATA", REPO.parent / "shared" / "data" / "UTKFace.tar.gz"))


def face_image(age: float, seed: int, size: int = 64) -> np.ndarray:
    """A synthetic 'face' (BGR) whose brightness and texture follow the age, so a model can learn it."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), 40 + 1.6 * age, dtype=np.float32)
    yy, xx = np.mgrid[0:size, 0:size]
    img += (np.sin(xx / (2 + age / 20)) * 20)[..., None]
    cv2.ellipse(img, (size // 2, size // 2), (size // 3, size // 2 - 4), 0, 0, 360, (200, 170, 150), 2)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def drawn_face(size: int = 128, seed: int = 0) -> np.ndarray:
    """A drawn frontal face (BGR): skin oval, brows, eyes with pupils, nose and mouth, softly blurred, with a
    little noise. Unlike :func:`face_image`, both face detectors (MTCNN and Haar) find it, upright or turned
    25 degrees, at 15-60% of a 640x480 scene's width (the range of :mod:`edge_age.data.wild`)."""
    rng = np.random.default_rng(seed)
    img = np.full((size, size, 3), 120, np.float32)
    c, s = size // 2, size
    cv2.ellipse(img, (c, c), (int(s * 0.33), int(s * 0.43)), 0, 0, 360, (140, 170, 215), -1)
    for side in (-1, 1):
        x = c + side * int(s * 0.14)
        cv2.ellipse(img, (x, int(s * 0.30)), (int(s * 0.09), max(1, int(s * 0.02))), 0, 0, 360, (40, 50, 70), -1)
        cv2.ellipse(img, (x, int(s * 0.40)), (int(s * 0.07), int(s * 0.035)), 0, 0, 360, (250, 250, 250), -1)
        cv2.circle(img, (x, int(s * 0.40)), max(2, int(s * 0.05)), (30, 30, 40), -1)
    cv2.line(img, (c, int(s * 0.45)), (c - int(s * 0.03), int(s * 0.58)), (90, 120, 160), max(1, s // 50))
    cv2.ellipse(img, (c, int(s * 0.70)), (int(s * 0.12), int(s * 0.04)), 0, 0, 360, (70, 70, 150), -1)
    img = cv2.GaussianBlur(img, (0, 0), s / 100) + rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_jpg(path: Path, img: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    path.write_bytes(buf.tobytes())
    return path


AGES = [1, 3, 8, 15, 22, 25, 27, 30, 34, 38, 41, 45, 50, 55, 61, 67, 72, 80, 88, 95]


def make_utk(root: Path, n_per_age: int = 3, ages: list[int] = AGES) -> Path:
    k = 0
    for a in ages:
        for j in range(n_per_age):
            write_jpg(root / f"{a}_{j % 2}_{j % 5}_2017011{k:07d}.jpg.chip.jpg", face_image(a, k))
            k += 1
    return root


def make_folders(root: Path, n_per_age: int = 3, ages: list[int] = AGES) -> Path:
    k = 0
    for a in ages:
        for j in range(n_per_age):
            write_jpg(root / str(a) / f"img{k:04d}.jpg", face_image(a, k))
            k += 1
    return root


def make_csv(root: Path, n_per_age: int = 3, ages: list[int] = AGES, bom: bool = False) -> Path:
    rows = ["file_name,real_age"]
    k = 0
    for a in ages:
        for j in range(n_per_age):
            write_jpg(root / "images" / f"p{k:04d}.jpg", face_image(a, k))
            rows.append(f"images/p{k:04d}.jpg,{a}")
            k += 1
    (root / "labels.csv").write_text(("\ufeff" if bom else "") + "\n".join(rows) + "\n", encoding="utf-8")
    return root / "labels.csv"


def make_tar(src: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w:gz") as tf:
        tf.add(src, arcname=src.name)
    return dest


def make_zip(src: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                zf.write(p, f"{src.name}/{p.relative_to(src).as_posix()}")
    return dest


@pytest.fixture
def utk_dir(tmp_path: Path) -> Path:
    return make_utk(tmp_path / "UTKFace")


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def real_data() -> Path:
    if not REAL_DATA.exists():
        pytest.skip(f"real UTKFace archive not found at {REAL_DATA} (set EDGE_AGE_DATA)")
    return REAL_DATA


@pytest.fixture(scope="session")
def exported(tmp_path_factory) -> dict:
    """A small SimpleCNN trained on generated faces and exported to every format (once per session)."""
    from edge_age.data.dataset import DataConfig
    from edge_age.export.exporter import ExportConfig, export_checkpoint
    from edge_age.train.loop import TrainConfig, train

    root = tmp_path_factory.mktemp("exported")
    data = make_utk(root / "UTKFace", n_per_age=6)
    cache = root / "cache"
    train(TrainConfig(out=str(root / "run"), epochs=3, batch_size=16, lr=5e-4, threads=1), DataConfig(str(data)),
          progress=False, cache_dir=cache, log=lambda s: None, command="edge-age train (pytest)")
    out = root / "export"
    card = export_checkpoint(ExportConfig(str(root / "run" / "best.pt"), out=str(out), int8=True, calib_size=60),
                             command="pytest", progress=False, cache_dir=cache, log=lambda s: None)
    return {"root": root, "data": data, "cache": cache, "out": out, "card": card}


# Fixtures that train or export a model (seconds to minutes each): a test whose fixture closure holds one is not
# ``fast``. tests/test_markers.py fails when a fixture that trains or exports is missing from this set.
TRAINING_FIXTURES = frozenset({
    "exported",      # here: a SimpleCNN trained and exported to every format, once per session and worker
    "model_export",  # tests/export/test_matrix.py: stand-in weights of every model exported to every format
    "flip_export",   # tests/export/test_matrix.py: the compact model exported with --flip-average and QAT
    "teacher",       # tests/train/test_train.py: a distribution-head model trained for two steps
    "mixed_run",     # tests/train/test_mixed_training.py: a SimpleCNN trained on two sources for two epochs
})


MARKERS = (
    "realdata: needs the real UTKFace archive (../shared/data or $EDGE_AGE_DATA); conftest adds it to every test "
    "asking for real_data",
    "slow: takes more than ~10 s on a 2-core CPU (out of -m fast; the full suite runs it)",
    "fast: set by tests/conftest.py, never by hand: not slow, not realdata, no training/export fixture "
    "(conftest.TRAINING_FIXTURES); `pytest -m fast` is the developer loop, under 2 minutes on 2 cores",
)


def pytest_configure(config) -> None:
    """The markers live here rather than in setup.cfg: the runtime matrix runs a copy of tests/ outside the checkout."""
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)


def pytest_collection_modifyitems(config, items) -> None:
    """Classify every collected test, so that no one has to remember to:

    - ``realdata`` also on a test that asks for the ``real_data`` fixture (it reads the real archive);
    - ``fast`` on a test that is neither ``slow`` nor ``realdata`` and has no fixture of ``TRAINING_FIXTURES``
      in its closure: ``python -m pytest -m fast`` is the loop a developer runs often (under 2 minutes on
      2 cores, with or without ``-n 2``)."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if "real_data" in names and not item.get_closest_marker("realdata"):
            item.add_marker(pytest.mark.realdata)
        if item.get_closest_marker("slow") or item.get_closest_marker("realdata"):
            continue
        if TRAINING_FIXTURES.isdisjoint(names):
            item.add_marker(pytest.mark.fast)
