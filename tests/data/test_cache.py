"""The face cache: built once, reused when nothing changed, rebuilt when anything did."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import face_image, make_utk, write_jpg
from edge_age.data.dataset import DataConfig, load_dataset
from edge_age.data.preprocess import PreprocessSpec


def test_cache_hit_returns_identical_faces(utk_dir: Path, cache_dir: Path) -> None:
    cfg = DataConfig(str(utk_dir))
    a = load_dataset(cfg, PreprocessSpec(), cache_dir, progress=False)
    files = sorted(cache_dir.iterdir())
    assert [f.suffix for f in files] == [".json", ".npy"]
    b = load_dataset(cfg, PreprocessSpec(), cache_dir, progress=False)
    assert isinstance(b.faces.faces, np.memmap)  # served from the cache, memory-mapped
    np.testing.assert_array_equal(a.faces.faces, b.faces.faces)
    assert a.faces.names == b.faces.names and sorted(cache_dir.iterdir()) == files


def test_cache_key_follows_settings_and_files(utk_dir: Path, cache_dir: Path) -> None:
    cfg = DataConfig(str(utk_dir))
    load_dataset(cfg, PreprocessSpec(), cache_dir, progress=False)
    load_dataset(cfg, PreprocessSpec(size=64), cache_dir, progress=False)
    assert len(list(cache_dir.glob("*.npy"))) == 2
    write_jpg(utk_dir / "33_0_0_20170000000001.jpg.chip.jpg", face_image(33, 99))
    ds = load_dataset(cfg, PreprocessSpec(), cache_dir, progress=False)
    assert len(list(cache_dir.glob("*.npy"))) == 3
    assert any(n.startswith("33_0_0_2017000") for n in ds.faces.names)


def test_unreadable_files_are_skipped_and_named(tmp_path: Path, cache_dir: Path) -> None:
    root = make_utk(tmp_path / "u", n_per_age=1)
    (root / "20_0_0_20170000000002.jpg.chip.jpg").write_bytes(b"")
    (root / "21_0_0_20170000000003.jpg.chip.jpg").write_text("this is text")
    ds = load_dataset(DataConfig(str(root)), PreprocessSpec(), cache_dir, progress=False)
    reasons = {Path(p.where).name: p.reason for p in ds.problems}
    assert "empty file" in reasons["20_0_0_20170000000002.jpg.chip.jpg"]
    assert "not a readable image" in reasons["21_0_0_20170000000003.jpg.chip.jpg"]
    assert len(ds.faces) == 20 and ds.faces.faces.shape == (20, 128, 128, 3)


def test_detect_faces_crops_or_reports(tmp_path: Path, cache_dir: Path) -> None:
    # A blank photo has no face: with --detect-faces it is skipped and named, never silently.
    root = tmp_path / "raw"
    write_jpg(root / "30" / "blank.jpg", np.full((240, 320, 3), 128, np.uint8))
    write_jpg(root / "31" / "other.jpg", face_image(31, 0, size=200))
    from edge_age.errors import EdgeAgeError
    import pytest

    with pytest.raises(EdgeAgeError, match="none of the 2 selected images"):
        load_dataset(DataConfig(str(root), detect_faces=True), PreprocessSpec(), cache_dir, progress=False)


def test_stored_detection_follows_the_stored_dataset_only() -> None:
    """A model trained on raw photos with --detect-faces is scored on another dataset (aligned chips) without
    detection unless asked, and on its own dataset with it: --detect-faces says what a dataset's images are."""
    from edge_age.data.dataset import config_for_model

    stored = DataConfig("photos/labels.csv", detect_faces=True).to_dict()
    assert config_for_model(stored).detect_faces
    assert config_for_model(stored, "photos/labels.csv").detect_faces
    other = config_for_model(stored, "chips.tar.gz")
    assert (other.path, other.detect_faces, other.split) == ("chips.tar.gz", False, DataConfig("x").split)
    assert config_for_model(stored, "chips.tar.gz", detect_faces=True).detect_faces
    plain = DataConfig("chips.tar.gz").to_dict()
    assert not config_for_model(plain, "photos/labels.csv").detect_faces
    assert DataConfig("a", detect_faces=True).with_path(None) == DataConfig("a", detect_faces=True)
    # the same file named another way is the same dataset
    assert config_for_model(stored, "./photos//labels.csv").detect_faces
    trained = DataConfig.from_dict(stored)
    assert "--detect-faces" in trained.dropped_detection(config_for_model(stored, "chips.tar.gz"))
    assert trained.dropped_detection(config_for_model(stored, "chips.tar.gz", detect_faces=True)) is None
    assert trained.dropped_detection(config_for_model(stored, "photos/labels.csv")) is None
    assert DataConfig("chips.tar.gz").dropped_detection(config_for_model(plain, "other")) is None


def _faces(ds):
    return ds.faces.names, np.asarray(ds.faces.faces)


def test_damaged_cache_entry_is_rebuilt(utk_dir: Path, cache_dir: Path, capsys) -> None:
    """A zero-byte or truncated .npy (what a power cut leaves) is rebuilt, with one line saying so."""
    cfg = DataConfig(str(utk_dir))
    names, faces = _faces(load_dataset(cfg, PreprocessSpec(), cache_dir, progress=False))
    (npy,) = cache_dir.glob("*.npy")
    whole = npy.read_bytes()
    for damaged in (b"", whole[: len(whole) // 2]):
        npy.write_bytes(damaged)
        capsys.readouterr()
        again = load_dataset(cfg, PreprocessSpec(), cache_dir, progress=False)
        assert again.faces.names == names
        np.testing.assert_array_equal(again.faces.faces, faces)
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "damaged" in err[0] and "rebuilding" in err[0]
        assert npy.read_bytes() == whole  # the entry was rewritten whole
        served = load_dataset(cfg, PreprocessSpec(), cache_dir, progress=False)
        assert isinstance(served.faces.faces, np.memmap) and capsys.readouterr().err == ""


def _assert_uncached(utk_dir: Path, cache_dir: Path, capsys) -> None:
    cfg = DataConfig(str(utk_dir))
    ref = load_dataset(cfg, PreprocessSpec(), None, progress=False)
    capsys.readouterr()
    ds = load_dataset(cfg, PreprocessSpec(), cache_dir, progress=False)
    assert ds.faces.names == ref.faces.names
    np.testing.assert_array_equal(ds.faces.faces, ref.faces.faces)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "running uncached" in err[0], err


def test_cache_dir_that_is_a_file_runs_uncached(utk_dir: Path, tmp_path: Path, capsys) -> None:
    not_a_dir = tmp_path / "cache-file"
    not_a_dir.write_text("x")
    _assert_uncached(utk_dir, not_a_dir, capsys)
    assert not_a_dir.read_text() == "x"


def test_read_only_cache_dir_runs_uncached(utk_dir: Path, cache_dir: Path, capsys) -> None:
    import os

    if os.geteuid() == 0:
        pytest.skip("root ignores permissions")
    cache_dir.mkdir()
    cache_dir.chmod(0o500)
    try:
        _assert_uncached(utk_dir, cache_dir, capsys)
        assert list(cache_dir.iterdir()) == []
    finally:
        cache_dir.chmod(0o700)


@pytest.mark.parametrize("code", ["ENOSPC", "EACCES"])
def test_unwritable_cache_write_runs_uncached(utk_dir: Path, cache_dir: Path, capsys, monkeypatch, code) -> None:
    """A full disk (ENOSPC) or a refused write (EACCES; root ignores chmod) while writing an entry."""
    import errno
    import os

    def full(*args, **kwargs):
        raise OSError(getattr(errno, code), os.strerror(getattr(errno, code)))

    monkeypatch.setattr(np, "save", full)
    _assert_uncached(utk_dir, cache_dir, capsys)
    assert [p.name for p in cache_dir.iterdir()] == []  # no temp file or half entry left behind
