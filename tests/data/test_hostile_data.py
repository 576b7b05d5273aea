"""Hostile archives, CSV files and output names: each bad item is named and counted, the rest goes on."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import face_image, make_utk, write_jpg
from edge_age.cli import main
from edge_age.data import containers
from edge_age.data.sources import load_labeled
from edge_age.errors import EdgeAgeError
from edge_age.runtime.predict import annotation_paths


def _jpg_bytes(age: int, seed: int) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".jpg", face_image(age, seed))
    assert ok
    return buf.tobytes()


def test_tar_links_and_devices_are_counted_not_dropped(tmp_path: Path) -> None:
    src = make_utk(tmp_path / "UTKFace", n_per_age=1)
    archive = tmp_path / "ds.tar"
    with tarfile.open(archive, "w") as tf:
        tf.add(src, arcname="UTKFace")
        for kind, name in ((tarfile.SYMTYPE, "30_0_0_link.jpg"), (tarfile.LNKTYPE, "31_0_0_hard.jpg"),
                           (tarfile.CHRTYPE, "32_0_0_dev.jpg")):
            info = tarfile.TarInfo(f"UTKFace/{name}")
            info.type, info.linkname = kind, "/etc/passwd"
            tf.addfile(info)
    ls = load_labeled(archive)
    skipped = [p for p in ls.problems if "not a regular file" in p.reason]
    assert len(skipped) == 3 and {"symlink", "hard link", "device or fifo"} <= {p.reason.split(",")[0] for p in skipped}
    assert len(ls.samples) == len(list(src.iterdir()))


def test_zip_members_that_cannot_be_read_are_named(tmp_path: Path, monkeypatch) -> None:
    archive = tmp_path / "ds.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("UTKFace/30_0_0_2017.jpg", _jpg_bytes(30, 1))
        zf.writestr("UTKFace/31_0_0_2017.jpg", _jpg_bytes(31, 2))
        zf.writestr("UTKFace/32_0_0_2017.jpg", b"\0" * 5000)  # stands for a bomb: over the lowered limit
        zf.writestr("UTKFace/33_0_0_2017.jpg", _jpg_bytes(33, 3))
    raw = bytearray(archive.read_bytes())
    # Mark member 2 encrypted (general purpose flag bit 0) in its central directory entry.
    cd = raw.rfind(b"PK\x01\x02", 0, raw.rfind(b"UTKFace/31"))
    raw[cd + 8] |= 1
    archive.write_bytes(bytes(raw))
    monkeypatch.setattr(containers, "MAX_MEMBER_BYTES", 4000)
    c = containers.open_container(archive)
    got = dict(c.read_many(c.names()))
    assert isinstance(got["UTKFace/31_0_0_2017.jpg"], EdgeAgeError) and "encrypted" in str(got["UTKFace/31_0_0_2017.jpg"])
    assert "limit" in str(got["UTKFace/32_0_0_2017.jpg"])
    assert isinstance(got["UTKFace/30_0_0_2017.jpg"], bytes) and isinstance(got["UTKFace/33_0_0_2017.jpg"], bytes)


def test_a_tar_member_past_the_limit_is_refused_by_its_size(tmp_path: Path, monkeypatch) -> None:
    archive = tmp_path / "ds.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for name, data in (("UTKFace/30_0_0_a.jpg", _jpg_bytes(30, 1)), ("UTKFace/31_0_0_b.jpg", b"\0" * 50_000)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    monkeypatch.setattr(containers, "MAX_MEMBER_BYTES", 40_000)
    c = containers.open_container(archive)
    got = dict(c.read_many(c.names()))
    assert isinstance(got["UTKFace/30_0_0_a.jpg"], bytes) and "limit" in str(got["UTKFace/31_0_0_b.jpg"])


def test_annotated_outputs_never_overwrite_an_input_or_each_other(tmp_path: Path) -> None:
    ann = tmp_path / "ann"
    ann.mkdir()
    a, b = tmp_path / "a" / "face.jpg", tmp_path / "b" / "face.jpg"
    victim = ann / "face_age.jpg"  # an input named like the output of face.jpg
    names = annotation_paths([a, b, victim], ann)
    assert len({p.resolve() for p in names}) == 3
    assert victim.resolve() not in {p.resolve() for p in names}
    # face.jpg's first choice is the victim's own name, so both face.jpg get numbered names
    assert [p.name for p in names] == ["face_2_age.jpg", "face_3_age.jpg", "face_age_age.jpg"]


def test_predict_annotate_keeps_the_inputs_intact(exported: dict, tmp_path: Path) -> None:
    ann = tmp_path / "ann"
    imgs = [write_jpg(tmp_path / d / "face.jpg", face_image(20 + i * 30, i, size=150)) for i, d in enumerate("ab")]
    victim = write_jpg(ann / "face_age.jpg", face_image(50, 9, size=150))
    before = victim.read_bytes()
    rc = main(["predict", "--crops", *map(str, imgs), str(victim), "--model", str(exported["out"] / "simplecnn_int8.onnx"),
               "--annotate", str(ann)])
    assert rc == 0 and victim.read_bytes() == before
    assert len(list(ann.glob("*_age.jpg"))) == 4  # the victim, and one annotation per input


def test_a_csv_with_a_huge_field_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    write_jpg(tmp_path / "a.jpg", face_image(30, 1))
    (tmp_path / "labels.csv").write_text("file_name,age\n" + "a.jpg,30\n" + "x" * 200_000 + ",40\n")
    rc = main(["data", "report", "--data", str(tmp_path / "labels.csv"), "--out", str(tmp_path / "rep")])
    err = capsys.readouterr().err.strip()
    assert rc == 0 and "Traceback" not in err, err
    report = (tmp_path / "rep" / "report.json").read_text()
    assert "unreadable CSV row" in report and "labels.csv:3" in report


def test_bench_split_all_scores_every_face(exported: dict, tmp_path: Path, capsys) -> None:
    rc = main(["bench", str(exported["out"] / "simplecnn_int8.onnx"), "--data", str(exported["data"]),
               "--split", "all", "--limit", "20", "--no-peak", "--runs", "1", "--warmup", "0", "--min-seconds", "0", "--photos", "0",
               "--json", str(tmp_path / "b.json")])
    import json

    result = json.loads((tmp_path / "b.json").read_text())
    row = result["rows"][0]
    assert result["photo_path"] == {}  # --photos 0
    assert rc == 0 and row.get("mae") is not None and "mae_error" not in row, row
    assert np.isfinite(row["mae"])


def test_a_missing_extra_is_a_one_line_error_naming_the_install(utk_dir: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    # A machine without the train extra: torch cannot be imported.
    code = ("import sys; sys.modules['torch'] = None\n"
            "from edge_age.cli import main\n"
            f"raise SystemExit(main(['train', '--data', {str(utk_dir)!r}, '--out', {str(tmp_path / 'r')!r}]))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    err = r.stderr.strip()
    assert r.returncode == 2 and "Traceback" not in err and len(err.splitlines()) == 1, err
    assert "'torch'" in err and "edge-age[train]" in err


def test_a_ppmd_zip_member_is_named(tmp_path: Path) -> None:
    archive = tmp_path / "ppmd.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("UTKFace/30_0_0_2017.jpg", _jpg_bytes(30, 1))
        zf.writestr("UTKFace/31_0_0_2017.jpg", _jpg_bytes(31, 2))
    raw = bytearray(archive.read_bytes())
    cd = raw.rfind(b"PK\x01\x02", 0, raw.rfind(b"UTKFace/31"))
    raw[cd + 10:cd + 12] = (98).to_bytes(2, "little")  # compression method 98: PPMd, which zipfile cannot read
    archive.write_bytes(bytes(raw))
    c = containers.open_container(archive)
    got = dict(c.read_many(c.names()))
    assert "unsupported compression" in str(got["UTKFace/31_0_0_2017.jpg"])
    assert isinstance(got["UTKFace/30_0_0_2017.jpg"], bytes)


def test_a_full_disk_is_a_one_line_error_and_leaves_no_temp_file(utk_dir: Path, tmp_path: Path, capsys,
                                                                 monkeypatch) -> None:
    import errno
    import os

    from edge_age import fileio

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.os, "replace", full)
    out = tmp_path / "rep"
    cache = tmp_path / "cache"
    rc = main(["data", "report", "--data", str(utk_dir), "--out", str(out), "--no-progress", "--cache-dir", str(cache)])
    monkeypatch.undo()
    err = capsys.readouterr().err.strip().splitlines()
    # The first write is the face cache: an optimisation, so the run goes on uncached and says so in one line; the
    # report's own write then fails, one line naming that file.
    assert any("running uncached" in e and str(cache) in e for e in err), err
    assert rc == 2 and "No space left on device" in err[-1] and str(out) in err[-1], err
    assert "Traceback" not in "\n".join(err)
    assert not list(tmp_path.rglob("*.tmp"))
    assert os.replace is not full


# Issue 34, items 2 and 3: `data wild` never writes into its own data, and replaces its set of scenes as a whole.

def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("where", ["the_data_folder", "inside_the_data_folder", "the_csv_folder"])
def test_data_wild_refuses_an_out_in_its_own_data(where: str, tmp_path: Path, capsys) -> None:
    from conftest import make_csv

    if where == "the_csv_folder":
        data = make_csv(tmp_path / "ds", n_per_age=1)  # ds/labels.csv naming ds/images/*.jpg
        out = data.parent
    else:
        data = make_utk(tmp_path / "chips", n_per_age=1)
        out = data if where == "the_data_folder" else data / "wild"
    before = _tree(tmp_path)
    rc = main(["data", "wild", "--data", str(data), "--split", "all", "--out", str(out), "--no-progress"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert rc == 2 and len(err) == 1 and "--out" in err[0] and str(out) in err[0], err
    assert _tree(tmp_path) == before  # no scene, no labels.csv dropped into the data


def test_an_interrupted_data_wild_rerun_leaves_the_previous_set(utk_dir: Path, tmp_path: Path, monkeypatch,
                                                               capsys) -> None:
    from edge_age.data import wild

    out = tmp_path / "wild"
    run = ["data", "wild", "--data", str(utk_dir), "--split", "all", "--out", str(out), "--no-progress"]
    assert main([*run, "--limit", "12"]) == 0
    before = _tree(out)
    real, placed = wild.place, []

    def killed(*args, **kw):
        placed.append(1)
        if len(placed) > 5:
            raise KeyboardInterrupt  # Ctrl-C half-way through the new set
        return real(*args, **kw)

    monkeypatch.setattr(wild, "place", killed)
    assert main([*run, "--limit", "12", "--scene-seed", "1"]) == 130
    assert _tree(out) == before  # labels.csv still describes the scenes beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["UTKFace", "wild"]  # no staging folder left behind
    monkeypatch.undo()
    assert main([*run, "--limit", "7", "--scene-seed", "1"]) == 0  # a smaller set replaces the larger one whole
    rows = (out / "labels.csv").read_text().splitlines()[1:]
    assert sorted(p.name for p in out.iterdir() if p.name != "labels.csv") == sorted(r.split(",")[0] for r in rows)
    assert 0 < len(rows) <= 7


# Issue 34, item 8: every item `data wild` or an archive leaves out is named and counted.

def test_data_wild_names_and_counts_every_source_it_drops(tmp_path: Path, capsys) -> None:
    data = make_utk(tmp_path / "chips", n_per_age=1)
    good = len(list(data.iterdir()))
    bad = {"40_0_0_2017010100000901.jpg": b"", "41_0_0_2017010100000902.jpg": b"not an image at all",
           "42_0_0_2017010100000903.jpg": _jpg_bytes(42, 9)[:40]}  # empty, not an image, truncated
    for name, raw in bad.items():
        (data / name).write_bytes(raw)
    (data / "x_0_0_2017.jpg").write_bytes(_jpg_bytes(30, 1))  # a bad label: skipped before any scene
    out = tmp_path / "wild"
    rc = main(["data", "wild", "--data", str(data), "--split", "all", "--out", str(out), "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    rows = (out / "labels.csv").read_text().splitlines()[1:]
    assert len(rows) == good
    assert f"skipped {len(bad) + 1} item(s)" in captured.err
    for name in [*bad, "x_0_0_2017.jpg"]:
        assert str(data / name) in captured.err, name


@pytest.mark.parametrize("kind", ["tar", "zip", "csv_in_tar"])
def test_a_repeated_archive_member_name_is_refused_in_every_copy_and_named(kind: str, tmp_path: Path) -> None:
    import warnings

    members = [("UTKFace/30_0_0_2017.jpg", _jpg_bytes(30, 1)), ("UTKFace/31_0_0_2017.jpg", _jpg_bytes(31, 2)),
               ("UTKFace/32_0_0_2017.jpg", _jpg_bytes(32, 3)), ("./UTKFace//31_0_0_2017.jpg", _jpg_bytes(60, 4))]
    if kind == "csv_in_tar":
        rows = "file_name,age\n" + "".join(f"{n.split('/')[-1]},{n.split('/')[-1][:2]}\n" for n, _ in members[:3])
        members.append(("UTKFace/labels.csv", rows.encode()))
    archive = tmp_path / ("ds.zip" if kind == "zip" else "ds.tar")
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as zf, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns on a duplicate name, and writes it
            for name, raw in members:
                zf.writestr(name, raw)
    else:
        with tarfile.open(archive, "w") as tf:
            for name, raw in members:
                info = tarfile.TarInfo(name)
                info.size = len(raw)
                tf.addfile(info, io.BytesIO(raw))
    ls = load_labeled(archive)
    assert sorted(s.name for s in ls.samples) == ["UTKFace/30_0_0_2017.jpg", "UTKFace/32_0_0_2017.jpg"]
    repeated = [p for p in ls.problems if "occurs 2 times" in p.reason]
    assert len(repeated) == 1 and repeated[0].where == f"{archive}:UTKFace/31_0_0_2017.jpg", ls.problems
    got = dict(ls.container.read_many(["UTKFace/31_0_0_2017.jpg"]))
    assert isinstance(got["UTKFace/31_0_0_2017.jpg"], EdgeAgeError)  # neither copy is read by name either


# Issue 34, item 18: a CSV label file reads only the files it names, and none that resolves outside its folder.

def test_a_csv_reads_only_the_files_it_names_and_refuses_symlinks_out(tmp_path: Path, monkeypatch) -> None:
    import os

    from conftest import make_csv

    home = tmp_path / "home"
    csv_path = make_csv(home, n_per_age=1)  # home/labels.csv naming home/images/*.jpg
    n_named = len(csv_path.read_text().splitlines()) - 1
    write_jpg(home / "unrelated" / "deep" / "x.jpg", face_image(30, 0))  # the rest of "home": never looked at
    secret = write_jpg(tmp_path / "outside" / "secret.jpg", face_image(40, 1))
    (home / "images" / "link.jpg").symlink_to(secret)
    (home / "images" / "linked_dir").symlink_to(secret.parent, target_is_directory=True)
    with open(csv_path, "a") as f:
        f.write("images/link.jpg,40\nimages/linked_dir/secret.jpg,40\n")

    def no_walk(*args, **kw):
        raise AssertionError("the CSV's folder was walked")

    monkeypatch.setattr(os, "walk", no_walk)
    monkeypatch.setattr(os, "scandir", no_walk)
    ls = load_labeled(csv_path)
    assert len(ls.samples) == n_named
    out = [p for p in ls.problems if "outside the CSV's folder" in p.reason]
    assert sorted(p.where.rsplit(":", 1)[1] for p in out) == [str(n_named + 2), str(n_named + 3)], ls.problems
    assert "link.jpg" in out[0].reason and "secret.jpg" in out[1].reason
    assert sorted(ls.container.names()) == sorted(["labels.csv", *(s.name for s in ls.samples)])
    assert "secret" not in str(ls.container.fingerprint())
