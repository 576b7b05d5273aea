"""A corpus of 70+ hostile inputs of our own, generated here, run through every command that takes them.

Each case asserts the exit code, that no traceback is printed, that the message names the culprit, and
that nothing outside the command's output folder changed. Images go through `predict` (alone and beside
a good face, with and without --detect-faces) and, labelled as a dataset, through `data report`, `data wild`,
`data framing`, `eval` (as crops and with --detect-faces), `train` and `bench --data` (its photo path too);
datasets through `data report`, `data wild`, `data framing`, `eval`, `train`, `export --data` and
`bench --data`; videos through `predict --video`; model files through `predict`, `eval`, `bench`, `export`,
`check` and `models`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import shutil
import stat
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import face_image, write_jpg
from edge_age.cli import main
from edge_age.formats import bundled_reference

FACE = face_image(40, 3, size=96)


def _jpg(img: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", img)[1].tobytes()


def _png_header(w: int, h: int, rows: int = 0, color: int = 2) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    body = zlib.compress(b"\0" * ((w * 3 + 1) * rows))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, color, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))


def _bmp_header(w: int, h: int) -> bytes:
    return b"BM" + struct.pack("<IHHI", 54, 0, 0, 54) + struct.pack("<IiiHHIIiiII", 40, w, h, 1, 24, 0, 0, 0, 0, 0, 0)


# name -> image bytes; every one must be refused by name (good images are added by the tests).
IMAGES: dict[str, bytes] = {
    "empty": b"",
    "one_byte": b"\xff",
    "nul_bytes": b"\0" * 4096,
    "text": b"hello, I am not a picture\n",
    "html": b"<!doctype html><title>404</title>",
    "json": b'{"image": "elsewhere"}',
    "random": bytes(np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8)),
    "jpeg_soi_only": b"\xff\xd8",
    "jpeg_cut_half": _jpg(FACE)[: len(_jpg(FACE)) // 2],
    "jpeg_no_eoi": _jpg(FACE)[:-2],
    "jpeg_garbage_after_header": _jpg(FACE)[:20] + bytes(300) + b"\xff\xd9",
    "png_signature_only": b"\x89PNG\r\n\x1a\n",
    "png_lying_header": _png_header(3000, 3000, rows=2),
    "png_zero_width": _png_header(0, 10),
    "png_bomb_14000": _png_header(14000, 14000, rows=14000),
    "png_bad_crc": _png_header(10, 10, rows=10)[:-5] + b"\0\0\0\0\0",
    "bmp_huge_header": _bmp_header(100000, 100000),
    "bmp_negative_width": _bmp_header(-50, 50),
    "gif_header_only": b"GIF89a\x10\x00\x10\x00",
    "tiff_header_only": b"II*\x00\x08\x00\x00\x00",
    "one_pixel": cv2.imencode(".png", np.zeros((1, 1, 3), np.uint8))[1].tobytes(),
    "one_row": cv2.imencode(".png", np.zeros((1, 400, 3), np.uint8))[1].tobytes(),
    "zip_named_jpg": b"PK\x05\x06" + bytes(18),
    "pdf_named_jpg": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n",
}


def _digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (not following links) -> its sha256: what a command must leave alone."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and not p.is_symlink():
            out[str(p.relative_to(folder))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _run(argv: list[str], capsys) -> tuple[int, str]:
    rc = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err, err[-2000:]
    return rc, err


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile_images")
    for name, data in IMAGES.items():
        (root / f"{name}.jpg").write_bytes(data)
    (root / "a_folder.jpg").mkdir()
    os.symlink("/nonexistent/target.jpg", root / "dangling_link.jpg")
    os.symlink(root / "loop_b.jpg", root / "loop_a.jpg")
    os.symlink(root / "loop_a.jpg", root / "loop_b.jpg")
    os.mkfifo(root / "a_fifo.jpg")  # reading it would block forever: must be refused without a read
    (root / ("long_" + "x" * 240 + ".jpg")).write_bytes(b"not an image")
    (root / "new\nline.jpg").write_bytes(b"not an image")
    write_jpg(root / "good" / "face.jpg", face_image(35, 7, size=160))
    return root


def _image_cases(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.name != "good")


@pytest.mark.parametrize("detect", [False, True], ids=["crop", "detect"])
def test_predict_names_every_bad_image_and_scores_the_good_one(exported: dict, images: Path, tmp_path: Path,
                                                              detect: bool, capsys) -> None:
    before = _digest(images)
    cases = _image_cases(images)
    good = images / "good" / "face.jpg"
    js = tmp_path / "out.json"
    argv = ["predict", *map(str, cases), str(good), "--model", str(exported["out"] / "simplecnn_int8.onnx"),
            "--json", str(js), "--annotate", str(tmp_path / "ann")] + ([] if detect else ["--crops"])
    rc, err = _run(argv, capsys)
    results = json.loads(js.read_text())["results"]
    scored = any("age" in r for r in results if r["file"] == str(good))
    assert scored or detect  # as a crop it is always scored; the detector may find no face in a drawn one
    assert rc == (0 if scored else 2)  # the run succeeded if anything was scored; the rest is named and counted
    bad = [r for r in results if "error" in r]
    assert {r["file"] for r in bad} - {str(good)} == {str(p) for p in cases}
    for p in cases:
        assert f"skipped {p}" in err, p.name
    assert f"{len(cases) + 1} image(s)" in err and f"{len(cases) + (not scored)} skipped" in err
    assert _digest(images) == before


@pytest.mark.parametrize("name", sorted(IMAGES)[:8])
def test_predict_on_one_bad_image_fails_in_one_line(exported: dict, images: Path, name: str, capsys) -> None:
    rc, err = _run(["predict", "--crops", str(images / f"{name}.jpg"), "--model", str(exported["out"] / "simplecnn_int8.onnx")],
                   capsys)
    lines = [s for s in err.splitlines() if s.strip()]
    assert rc == 2 and f"{name}.jpg" in lines[0] and "0 face(s), 1 skipped" in lines[-1]


# ---------------------------------------------------------------------------------------------- datasets

def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def _csv(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_jpg(folder / "a.jpg", FACE)
    (folder / "labels.csv").write_text(text)
    return folder / "labels.csv"


# name -> builder(folder) -> the --data path. All must give rc 2 with the culprit named, or run with the bad
# items named as problems (rc 0) -- never a traceback.
DATASETS = {
    "missing_path": lambda d: d / "nowhere",
    "empty_folder": lambda d: (d / "empty").mkdir() or d / "empty",
    "only_text_files": lambda d: ((d / "t").mkdir(), (d / "t" / "notes.txt").write_text("x"))[0] or d / "t",
    "unlabeled_images": lambda d: write_jpg(d / "u" / "face.jpg", FACE).parent,
    "every_image_broken": lambda d: _many(d / "broken", b"not a jpeg"),
    "zip_traversal": lambda d: _zip(d / "evil.zip", {"../../30_0_0_x.jpg": _jpg(FACE)}),
    "zip_empty": lambda d: _zip(d / "empty.zip", {}),
    "zip_not_a_zip": lambda d: _file(d / "fake.zip", b"PK\x03\x04 garbage"),
    "tar_truncated": lambda d: _cut(_tar(d / "t.tar.gz", {f"{a}_0_0_x{a}.jpg": _jpg(FACE) for a in range(20, 40)})),
    "tar_absolute_member": lambda d: _tar(d / "abs.tar.gz", {"/etc/30_0_0_x.jpg": _jpg(FACE)}),
    "csv_no_age_column": lambda d: _csv(d / "c1", "file,gender\na.jpg,0\n"),
    "csv_bad_ages": lambda d: _csv(d / "c2", "file,age\na.jpg,-3\na.jpg,nan\na.jpg,1e9\na.jpg,abc\n"),
    "csv_outside_paths": lambda d: _csv(d / "c3", "file,age\n../../etc/passwd,30\n/etc/hosts,31\n"),
    "csv_binary": lambda d: (_csv(d / "c4", ""), (d / "c4" / "labels.csv").write_bytes(b"\xff\xfe\0\0garbage"))[0],
    "csv_empty": lambda d: _csv(d / "c5", ""),
    "folders_not_ages": lambda d: write_jpg(d / "f" / "adult" / "x.jpg", FACE).parent.parent,
    "utk_ages_out_of_range": lambda d: _many(d / "range", _jpg(FACE), names=("999_0_0_1.jpg", "-1_0_0_2.jpg")),
}


def _many(folder: Path, data: bytes, names: tuple[str, ...] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names or tuple(f"{a}_0_0_2017{a:04d}.jpg" for a in range(20, 40)):
        (folder / name).write_bytes(data)
    return folder


def _cut(path: Path) -> Path:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _runs_on_dataset(case: str, tmp_path: Path, capsys, runs_for) -> None:
    """Build the hostile dataset ``case``, run each command ``runs_for(data, out)`` lists on it: each ends cleanly
    or with rc 2 and one last line naming the dataset; the dataset's files are left as they were."""
    src = tmp_path / "src"
    src.mkdir()
    data = DATASETS[case](src)
    before = _digest(src)
    for argv in runs_for(data, tmp_path / "out"):
        rc, err = _run(argv, capsys)
        lines = [s for s in err.splitlines() if s.strip()]
        if rc != 0:
            assert rc == 2 and lines and lines[-1].startswith("edge-age: error:"), (argv[:2], err)
            assert str(data) in lines[-1] or Path(data).name in lines[-1], (argv[:2], lines[-1])
    assert _digest(src) == before


@pytest.mark.parametrize("case", sorted(DATASETS))
def test_datasets_through_report_eval_and_train(case: str, exported: dict, tmp_path: Path, capsys) -> None:
    _runs_on_dataset(case, tmp_path, capsys, lambda data, out: [
        ["data", "report", "--data", str(data), "--out", str(out / "report"), "--no-progress"],
        ["eval", str(exported["out"] / "simplecnn_int8.onnx"), "--data", str(data), "--split", "all",
         "--out", str(out / "eval"), "--no-progress", "--cache-dir", str(out / "cache")],
        ["train", "--arch", "simplecnn", "--data", str(data), "--epochs", "1", "--max-steps", "1", "--threads", "1",
         "--precision", "fp32", "--out", str(out / "train"), "--no-progress", "--cache-dir", str(out / "cache")],
    ])


@pytest.mark.parametrize("case", sorted(DATASETS))
def test_datasets_through_wild_framing_export_and_bench(case: str, exported: dict, tmp_path: Path, capsys) -> None:
    """The other commands that read a dataset: a clean result (`bench` notes a dataset it cannot score in its
    table), or rc 2 with the culprit named."""
    _runs_on_dataset(case, tmp_path, capsys, lambda data, out: [
        ["data", "wild", "--data", str(data), "--out", str(out / "wild"), "--no-progress"],
        ["data", "framing", "--data", str(data), "--detector", "blazeface", "--out", str(out / "framing"),
         "--no-progress"],
        ["export", str(exported["root"] / "run" / "best.pt"), "--data", str(data), "--formats", "onnx_fp32",
         "--out", str(out / "export"), "--no-progress", "--cache-dir", str(out / "cache")],
        ["bench", str(bundled_reference()), "--data", str(data), "--photos", "2", "--no-peak", "--runs", "1",
         "--warmup", "0", "--min-seconds", "0", "--json", str(out / "bench.json")],  # the small model: quick to time
        ["calibrate", str(exported["out"]), "--data", str(data), "--split", "all", "--out", str(out / "cal"),
         "--cache-dir", str(out / "cache"), "--no-progress"],
        ["eval", str(exported["out"] / "simplecnn_int8.onnx"), "--data", str(data), "--split", "all", "--degrade",
         "--degrade-limit", "3", "--out", str(out / "evdeg"), "--no-progress", "--cache-dir", str(out / "cache")],
        ["calibrate", str(exported["out"]), "--photos", str(data), "--degrade", "--degrade-limit", "3",
         "--out", str(out / "cal2"), "--cache-dir", str(out / "cache"), "--no-progress"],
    ])


# ---------------------------------------------------------------------------------------------- model files

class _Boom:
    def __reduce__(self):
        return (os.system, ("touch /tmp/edge_age_pwned",))


def _copy_export(d: Path, exported: dict) -> Path:
    shutil.copytree(exported["out"], d / "m")
    return d / "m"


def _edit_card(d: Path, exported: dict, edit) -> Path:
    m = _copy_export(d, exported)
    card = json.loads((m / "simplecnn.json").read_text())
    edit(card)
    (m / "simplecnn.json").write_text(json.dumps(card))
    return m / "simplecnn_int8.tflite"


MODELS = {
    "missing": lambda d, e: d / "none.onnx",
    "empty_onnx": lambda d, e: _file(d / "x.onnx", b""),
    "random_onnx": lambda d, e: _file(d / "r.onnx", os.urandom(2000)),
    "random_tflite": lambda d, e: _file(d / "r_int8.tflite", os.urandom(2000)),
    "tflite_without_card": lambda d, e: shutil.copy(e["out"] / "simplecnn_int8.tflite", d / "lone_int8.tflite")
    and d / "lone_int8.tflite",
    "card_not_json": lambda d, e: _card_text(d, e, "{not json"),
    "card_mean_two": lambda d, e: _edit_card(d, e, lambda c: c["preprocess"].__setitem__("mean", [1, 2])),
    "card_size_string": lambda d, e: _edit_card(d, e, lambda c: c["preprocess"].__setitem__("size", "big")),
    "card_unknown_interp": lambda d, e: _edit_card(d, e, lambda c: c["preprocess"].__setitem__("interpolation", "x")),
    "card_no_preprocess": lambda d, e: _edit_card(d, e, lambda c: c.pop("preprocess")),
    "card_wrong_size": lambda d, e: _edit_card(d, e, lambda c: c["preprocess"].__setitem__("size", 96)),
    "malicious_pickle_pt": lambda d, e: _file(d / "evil.pt", pickle.dumps(_Boom())),
    "text_pt": lambda d, e: _file(d / "t.pt", b"not a checkpoint"),
    "folder_named_onnx": lambda d, e: (d / "dir.onnx").mkdir() or d / "dir.onnx",
    "unknown_suffix": lambda d, e: _file(d / "model.h5", b"HDF"),
}


def _file(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _card_text(d: Path, exported: dict, text: str) -> Path:
    m = _copy_export(d, exported)
    (m / "simplecnn.json").write_text(text)
    return m / "simplecnn_int8.tflite"


@pytest.mark.parametrize("case", sorted(MODELS))
def test_model_files_through_predict_eval_bench_and_export(case: str, exported: dict, tmp_path: Path,
                                                           capsys) -> None:
    src = tmp_path / "src"
    src.mkdir()
    model = MODELS[case](src, exported)
    face = write_jpg(tmp_path / "face.jpg", face_image(30, 1, size=128))
    before = _digest(src)
    out = tmp_path / "out"
    for argv in (["predict", "--crops", str(face), "--model", str(model)],
                 ["calibrate", str(model), "--data", str(exported["data"]), "--out", str(out / "cal"),
                  "--cache-dir", str(exported["cache"]), "--no-progress"],
                 ["eval", str(model), "--data", str(exported["data"]), "--split", "val", "--no-progress",
                  "--out", str(out / "eval"), "--cache-dir", str(exported["cache"])]):
        rc, err = _run(argv, capsys)
        lines = [s for s in err.splitlines() if s.strip()]
        assert rc == 2 and len(lines) == 1 and lines[0].startswith("edge-age: error:"), (argv[0], err)
        assert model.name in lines[0] or model.parent.name in lines[0], (argv[0], lines[0])
    rc, err = _run(["bench", str(model), "--no-peak", "--runs", "1", "--warmup", "0", "--min-seconds", "0",
                    "--json", str(out / "b.json")], capsys)
    assert rc in (1, 2)  # an error row (rc 1) or a refusal (rc 2), never a traceback
    if model.suffix == ".pt":
        rc, err = _run(["export", str(model), "--out", str(out / "export")], capsys)
        assert rc == 2 and model.name in err
    assert not Path("/tmp/edge_age_pwned").exists()
    assert _digest(src) == before


# ---------------------------------------------------------------------------------------------- other commands

def _one_line_or_clean(rc: int, err: str, culprits: tuple[str, ...], what: str) -> None:
    """A command's end on hostile input: a clean result (rc 0), or rc 2 with one line on stderr, the
    ``edge-age: error:`` line, naming one of ``culprits``."""
    if rc == 0:
        return
    lines = [s for s in err.splitlines() if s.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("edge-age: error:"), (what, rc, err[-2000:])
    assert any(c in lines[0] for c in culprits), (what, lines[0])


def _as_dataset(images: Path, root: Path) -> tuple[Path, list[Path]]:
    """The image corpus as a folders-labelled dataset: every case under 30/, beside 20 good faces of other ages.
    Links stay links and the fifo a fifo (a copy would read it). Returns the root and the regular bad files."""
    bad = []
    for p in _image_cases(images):
        dest = root / "30" / p.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        if p.is_symlink():
            os.symlink(os.readlink(p), dest)
        elif stat.S_ISFIFO(os.lstat(p).st_mode):
            os.mkfifo(dest)
        elif p.is_dir():
            dest.mkdir()
        else:
            dest.write_bytes(p.read_bytes())
            bad.append(dest)
    for age in range(20, 80, 3):
        write_jpg(root / str(age) / f"good{age}.jpg", face_image(age, age, size=96))
    return root, bad


def test_the_image_corpus_as_a_dataset_through_every_command_that_reads_one(images: Path, tmp_path: Path,
                                                                            capsys) -> None:
    """Every bad image labelled beside good faces: `data report` names each one, `eval` scores the good faces
    and counts every bad one as skipped, `data wild` places only the good ones; with --detect-faces, and in
    `train`, `data framing` and `bench --data` (its photo path), a clean result or one line naming the dataset
    (`export --data` reads a dataset as `train` does: the dataset cases run it). Links and the fifo are never
    read (no hang)."""
    data, bad = _as_dataset(images, tmp_path / "faces")
    assert len(bad) >= 24
    before = _digest(data)
    out = tmp_path / "out"
    model = str(bundled_reference())

    rc, _ = _run(["data", "report", "--data", str(data), "--out", str(out / "report"), "--no-progress"], capsys)
    report = json.loads((out / "report" / "report.json").read_text())
    named = {line.split(": ")[0] for line in report["unreadable"]}
    assert rc == 0 and named == {str(p) for p in bad}, sorted(named ^ {str(p) for p in bad})

    rc = main(["eval", model, "--data", str(data), "--split", "all", "--out", str(out / "eval"), "--no-progress",
               "--cache-dir", str(out / "cache")])
    said = capsys.readouterr()
    assert rc == 0 and "Traceback" not in said.err, said.err[-2000:]
    assert "n 20 " in said.out and f"skipped {len(bad)} item(s) with problems" in said.out, said.out[-2000:]

    rc, _ = _run(["data", "wild", "--data", str(data), "--split", "all", "--out", str(out / "wild"),
                  "--no-progress"], capsys)
    rows = (out / "wild" / "labels.csv").read_text().splitlines()
    assert rc == 0 and len(rows) == 1 + 20  # header and the 20 good faces

    for argv in (["eval", model, "--data", str(data), "--split", "all", "--detect-faces", "--out", str(out / "eval2"),
                  "--no-progress", "--cache-dir", str(out / "cache")],
                 ["train", "--arch", "simplecnn", "--data", str(data), "--epochs", "1", "--max-steps", "1", "--threads", "1",
                  "--precision", "fp32", "--out", str(out / "train"), "--no-progress",
                  "--cache-dir", str(out / "cache")],
                 # BlazeFace: the same loading as MTCNN, and several times faster on the scenes of the good faces.
                 ["data", "framing", "--data", str(data), "--split", "all", "--detector", "blazeface",
                  "--out", str(out / "framing"), "--no-progress"],
                 ["bench", model, "--data", str(data), "--split", "all", "--photos", "2", "--no-peak", "--runs", "1",
                  "--warmup", "0", "--min-seconds", "0", "--json", str(out / "bench.json")]):
        rc, err = _run(argv, capsys)
        _one_line_or_clean(rc, err, (str(data),), argv[0])
    assert _digest(data) == before


# ---------------------------------------------------------------------------------------------- videos

# What `predict --video` must refuse in one line naming it, or read cleanly (a cut file: its whole frames); built
# by the fixture beside a good MJPG video. A fifo (opened, it would wait for a writer forever) and a 72 MP PNG
# named .avi (OpenCV's image-sequence reader decodes it whole: 4 GB for a 196 MP one) are refused before a frame.
VIDEOS = ("empty.mp4", "text.mp4", "random.avi", "header_only.avi", "cut_half.avi", "jpeg_named.mp4", "pdf_named.mp4",
          "a_folder.mp4", "dangling_link.mp4", "a_fifo.mp4", "huge_frames.avi")


def _huge_png(w: int, h: int) -> bytes:
    """A valid all-black PNG of w x h pixels, compressed row by row (never w x h bytes in memory at once)."""
    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    z = zlib.compressobj(1)
    row = b"\0" * (w * 3 + 1)
    body = b"".join(z.compress(row) for _ in range(h)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("hostile_videos")
    good = root / "good" / "faces.avi"
    good.parent.mkdir()
    writer = cv2.VideoWriter(str(good), cv2.VideoWriter_fourcc(*"MJPG"), 10, (160, 160))
    for i in range(6):
        writer.write(face_image(30 + i, i, size=160))
    writer.release()
    video = good.read_bytes()
    for name, data in {"empty.mp4": b"", "text.mp4": IMAGES["text"], "random.avi": IMAGES["random"],
                       "header_only.avi": video[:300], "cut_half.avi": video[: len(video) // 2],
                       "jpeg_named.mp4": _jpg(FACE), "pdf_named.mp4": IMAGES["pdf_named_jpg"]}.items():
        (root / name).write_bytes(data)
    (root / "a_folder.mp4").mkdir()
    os.symlink("/nonexistent/video.mp4", root / "dangling_link.mp4")
    os.mkfifo(root / "a_fifo.mp4")
    (root / "huge_frames.avi").write_bytes(_huge_png(9000, 8000))
    assert sorted(p.name for p in root.iterdir() if p.name != "good") == sorted(VIDEOS)
    return root


@pytest.mark.parametrize("name", VIDEOS)
def test_predict_video_refuses_or_reads_each_hostile_video(videos: Path, name: str, tmp_path: Path, capsys) -> None:
    before = _digest(videos)
    rc, err = _run(["predict", "--video", str(videos / name), "--max-frames", "3", "--json", str(tmp_path / "v.jsonl"),
                    "--annotate", str(tmp_path / "v.avi")], capsys)
    _one_line_or_clean(rc, err, (name,), name)
    assert _digest(videos) == before


def test_check_and_models_name_every_hostile_model_file(exported: dict, tmp_path: Path, capsys) -> None:
    """`check` refuses each hostile model file in one line naming it (or its card); `models` lists every one
    it finds with the problem beside it, and the run still ends cleanly."""
    src = tmp_path / "src"
    models = {}
    for case, build in sorted(MODELS.items()):
        (src / case).mkdir(parents=True)
        models[case] = build(src / case, exported)
    before = _digest(src)
    for case, model in models.items():
        rc, err = _run(["check", str(model)], capsys)
        lines = [s for s in err.splitlines() if s.strip()]
        assert rc == 2 and len(lines) == 1 and lines[0].startswith("edge-age: error:"), (case, err)
        assert model.name in lines[0] or model.parent.name in lines[0], (case, lines[0])
    rc, _ = _run(["models", str(src), "--json", str(tmp_path / "models.json")], capsys)
    listed = {r["file"]: r for r in json.loads((tmp_path / "models.json").read_text())["models"]}
    assert rc == 0
    # `models` reads the cards, not the model files: a valid card beside a file of another input size is listed
    # as its card says (check, above, and predict refuse the file).
    card_is_valid = {"card_wrong_size"}
    for case, model in models.items():
        if model.suffix in (".onnx", ".tflite") and model.is_file():
            row = listed.get(str(model))
            assert row is not None and ("problem" in row) == (case not in card_is_valid), (case, row)
    assert not Path("/tmp/edge_age_pwned").exists()
    assert _digest(src) == before
