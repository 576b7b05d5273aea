"""Every label format parses, from folders and archives; bad labels are reported with the file."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from conftest import AGES, face_image, make_csv, make_folders, make_tar, make_utk, make_zip, write_jpg
from edge_age.data.sources import load_labeled, parse_age, parse_utkface_name
from edge_age.errors import EdgeAgeError


def _ages(ls):
    return sorted(s.age for s in ls.samples)


@pytest.mark.parametrize("pack", ["dir", "tar", "zip"])
@pytest.mark.parametrize("scheme", ["utkface", "folders", "csv"])
def test_every_scheme_in_every_container(tmp_path: Path, scheme: str, pack: str) -> None:
    src = tmp_path / "ds"
    if scheme == "utkface":
        make_utk(src)
    elif scheme == "folders":
        make_folders(src)
    else:
        make_csv(src)
    target = {"dir": src, "tar": make_tar(src, tmp_path / "ds.tar.gz"), "zip": make_zip(src, tmp_path / "ds.zip")}[pack]
    ls = load_labeled(target)
    assert ls.scheme == scheme
    assert _ages(ls) == sorted(a for a in AGES for _ in range(3))
    assert ls.problems == []
    # Every listed sample can be read back from the container.
    got = dict(ls.container.read_many([s.name for s in ls.samples[:5]]))
    assert all(isinstance(v, bytes) and len(v) > 100 for v in got.values())


def test_csv_file_passed_directly_with_bom(tmp_path: Path) -> None:
    csv_path = make_csv(tmp_path / "ds", bom=True)
    ls = load_labeled(csv_path)
    assert ls.scheme == "csv" and len(ls.samples) == 3 * len(AGES)


def test_utkface_names_without_race_field() -> None:
    # Three real UTKFace files lack the race field; their age must still parse.
    assert parse_utkface_name("UTKFace/39_1_20990101000000001.jpg.chip.jpg") == 39
    assert parse_utkface_name("UTKFace/100_0_0_20990101000000002.jpg.chip.jpg") == 100


@pytest.mark.parametrize("text,reason", [("-3", "negative"), ("121", "above"), ("abc", "not a number"),
                                         ("", "missing"), ("nan", "not a number")])
def test_bad_ages_are_rejected_with_reason(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_age(text)


def test_bad_labels_are_skipped_and_named(tmp_path: Path) -> None:
    root = make_utk(tmp_path / "u", n_per_age=1)
    write_jpg(root / "abc_0_0_2017.jpg.chip.jpg", face_image(20, 1))
    write_jpg(root / "130_0_0_2017.jpg.chip.jpg", face_image(20, 2))
    ls = load_labeled(root)
    assert len(ls.samples) == len(AGES)
    where = {Path(p.where).name: p.reason for p in ls.problems}
    assert "not a number" in where["abc_0_0_2017.jpg.chip.jpg"]
    assert "above 120" in where["130_0_0_2017.jpg.chip.jpg"]


def test_csv_bad_rows_name_file_and_row(tmp_path: Path) -> None:
    root = tmp_path / "c"
    write_jpg(root / "a.jpg", face_image(20, 0))
    write_jpg(root / "b.jpg", face_image(30, 1))
    (root / "labels.csv").write_text("path,age\na.jpg,20\nb.jpg,old\nmissing.jpg,40\n")
    ls = load_labeled(root / "labels.csv")
    assert [s.name for s in ls.samples] == ["a.jpg"]
    msgs = [str(p) for p in ls.problems]
    assert any("labels.csv:3" in m and "not a number" in m for m in msgs)
    assert any("labels.csv:4" in m and "not found" in m for m in msgs)


def test_csv_wrong_header_is_an_error_naming_the_file(tmp_path: Path) -> None:
    root = tmp_path / "c"
    write_jpg(root / "a.jpg", face_image(20, 0))
    (root / "labels.csv").write_text("picture,years\na.jpg,20\n")
    with pytest.raises(EdgeAgeError, match=r"labels\.csv.*lacks a path column"):
        load_labeled(root / "labels.csv")


def test_empty_folder_and_missing_path(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(EdgeAgeError, match="empty"):
        load_labeled(tmp_path / "empty")
    with pytest.raises(EdgeAgeError, match="no such file"):
        load_labeled(tmp_path / "nope")


def test_unlabeled_images_are_an_error(tmp_path: Path) -> None:
    write_jpg(tmp_path / "x" / "holiday.jpg", face_image(20, 0))
    with pytest.raises(EdgeAgeError, match="no labeled images"):
        load_labeled(tmp_path / "x")


def test_archive_path_traversal_is_refused(tmp_path: Path) -> None:
    img = write_jpg(tmp_path / "20_0_0_2017.jpg.chip.jpg", face_image(20, 0))
    bad = tmp_path / "evil.tar.gz"
    with tarfile.open(bad, "w:gz") as tf:
        tf.add(img, arcname="../../20_0_0_2017.jpg.chip.jpg")
    with pytest.raises(EdgeAgeError, match="path traversal"):
        load_labeled(bad)
