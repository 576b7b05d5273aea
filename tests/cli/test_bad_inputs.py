"""A corpus of bad inputs, generated here, through every command: one-line errors naming the file,
non-zero exits where a run cannot go on, and in bulk runs the bad items skipped and counted."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from conftest import face_image, make_utk, write_jpg
from edge_age.cli import main
from edge_age.data.preprocess import decode_image
from edge_age.errors import EdgeAgeError


def _jpg(img: np.ndarray) -> bytes:
    return cv2.imencode(".jpg", img)[1].tobytes()


def _png(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


def _exif_orientation(value: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = value  # Orientation
    return exif


def _pil(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


FACE = face_image(40, 3, size=96)

# name -> (bytes, expected reason or None when the file must be accepted as a face)
IMAGE_CORPUS: dict[str, tuple[bytes, str | None]] = {
    "zero_byte": (b"", "empty file"),
    "truncated": (_jpg(FACE)[:400], "truncated JPEG"),
    "text_named_jpg": (b"this is not an image\n", "not a readable image"),
    "html_named_jpg": (b"<html><body>404</body></html>", "not a readable image"),
    "random_bytes": (bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8)), "not a readable image"),
    "one_by_one": (_png(np.zeros((1, 1, 3), np.uint8)), "too small"),
    "huge_12000": (_png(np.zeros((12000, 12000), np.uint8)), "too large"),
    "png_alpha": (_png(np.dstack([FACE, np.full(FACE.shape[:2], 100, np.uint8)])), None),
    "png_16bit": (_png(FACE.astype(np.uint16) * 257), None),
    "gray_jpeg": (_jpg(cv2.cvtColor(FACE, cv2.COLOR_BGR2GRAY)), None),
    "cmyk_jpeg": (_pil(Image.fromarray(FACE[..., ::-1]).convert("CMYK"), "JPEG"), None),
    "exif_rotated": (_pil(Image.fromarray(np.ascontiguousarray(FACE[:60, :, ::-1])), "JPEG",
                          exif=_exif_orientation(6)), None),
    "bmp": (cv2.imencode(".bmp", FACE)[1].tobytes(), None),
    "webp": (cv2.imencode(".webp", FACE)[1].tobytes(), None),
    "jpeg_header_only": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "truncated JPEG"),
}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """UTKFace-named folder: 20 good faces plus every bad image and every bad label."""
    root = make_utk(tmp_path_factory.mktemp("bad") / "faces", n_per_age=1)
    for i, (name, (data, _)) in enumerate(IMAGE_CORPUS.items()):
        (root / f"{30 + i}_0_0_2017{i:04d}_{name}.jpg.chip.jpg").write_bytes(data)
    good = _jpg(FACE)
    for label in ("-4", "130", "abc", ""):  # negative, above 120, non-numeric, missing
        (root / f"{label}_0_0_2017_badlabel.jpg.chip.jpg").write_bytes(good)
    (root / "readme.txt").write_text("not an image, ignored")
    (root / "dup_copy").mkdir()
    (root / "dup_copy" / "22_0_0_20170110000004.jpg.chip.jpg").write_bytes(
        next(root.glob("22_*.jpg.chip.jpg")).read_bytes())  # exact duplicate
    os.symlink(root, root / "loop")  # a symlink loop must not send the walk round forever
    return root


def test_exif_orientation_is_honoured() -> None:
    img = decode_image(IMAGE_CORPUS["exif_rotated"][0], "exif.jpg")
    assert img.shape[:2] == (96, 60)  # 60x96 stored, rotated 90 degrees by the EXIF tag


@pytest.mark.parametrize("name", list(IMAGE_CORPUS))
def test_each_image_is_decoded_or_refused_by_name(name: str) -> None:
    data, reason = IMAGE_CORPUS[name]
    if reason is None:
        img = decode_image(data, f"{name}.jpg")
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    else:
        with pytest.raises(EdgeAgeError, match=rf"{name}\.jpg: .*{reason}"):
            decode_image(data, f"{name}.jpg")


def test_data_report_lists_every_bad_item(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "rep"
    assert main(["data", "report", "--data", str(corpus), "--out", str(out), "--cache-dir", str(tmp_path / "c"),
                 "--no-progress"]) == 0
    r = json.loads((out / "report.json").read_text())
    bad = {n for n, (_, reason) in IMAGE_CORPUS.items() if reason}
    unreadable = "\n".join(r["unreadable"])
    for n in bad:
        assert n in unreadable, n
    assert len(r["unreadable"]) == len(bad)
    assert len(r["label_problems"]) == 4
    assert r["readable"] == 20 + len(IMAGE_CORPUS) - len(bad) + 1
    assert any(len(g) == 2 for g in r["exact_duplicates"])


def test_train_skips_and_counts_bad_items(corpus: Path, tmp_path: Path, capsys) -> None:
    rc = main(["train", "--arch", "simplecnn", "--data", str(corpus), "--epochs", "1", "--max-steps", "1", "--batch-size", "8",
               "--out", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "c"), "--no-progress", "--threads", "1"])
    assert rc == 0
    out = capsys.readouterr().out
    n_bad = sum(1 for _, r in IMAGE_CORPUS.values() if r) + 4
    assert f"skipped {n_bad} item(s) with problems" in out


def test_predict_names_each_bad_file_and_exits_nonzero_when_nothing_worked(exported: dict, corpus: Path,
                                                                            capsys) -> None:
    bad = sorted(p for p in corpus.glob("*.jpg.chip.jpg") if any(
        n in p.name for n, (_, r) in IMAGE_CORPUS.items() if r))
    model = str(exported["out"] / "simplecnn_int8.tflite")
    assert main(["predict", "--crops", *map(str, bad), "--model", model]) == 2
    err = capsys.readouterr().err
    assert err.count("edge-age: skipped") == len(bad)
    assert f"{len(bad)} image(s), 0 face(s), {len(bad)} skipped" in err


def _cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge_age", *argv], capture_output=True, text=True, cwd=cwd)


def test_foreign_and_broken_model_files(exported: dict, tmp_path: Path) -> None:
    from edge_age.bench.peak import matmul_model_path

    foreign = tmp_path / "matmul_fp32.onnx"
    foreign.write_bytes(matmul_model_path(False).read_bytes())  # a valid ONNX file of another model
    r = _cli("predict", "--crops", str(exported["data"] / "1_0_0_20170110000000.jpg.chip.jpg"), "--model", str(foreign),
             cwd=tmp_path)
    assert r.returncode == 2 and "matmul_fp32.onnx" in r.stderr and "4-D image input" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    lonely = tmp_path / "lonely_int8.tflite"
    lonely.write_bytes((exported["out"] / "simplecnn_int8.tflite").read_bytes())
    r = _cli("predict", "--crops", str(exported["data"] / "1_0_0_20170110000000.jpg.chip.jpg"), "--model", str(lonely),
             cwd=tmp_path)
    assert r.returncode == 2 and "model card lonely.json not found" in r.stderr


def test_checkpoints_from_another_model_or_version(exported: dict, tmp_path: Path) -> None:
    import torch

    ck = torch.load(exported["root"] / "run" / "best.pt", weights_only=True)
    torch.save({**ck, "model": "resnet18"}, tmp_path / "wrong_model.pt")
    torch.save({**ck, "version": 99}, tmp_path / "future.pt")
    r = _cli("export", str(tmp_path / "wrong_model.pt"), cwd=tmp_path)
    assert r.returncode == 2 and "wrong_model.pt: weights do not fit model 'resnet18'" in r.stderr
    r = _cli("eval", str(tmp_path / "future.pt"), cwd=tmp_path)
    assert r.returncode == 2 and "future.pt: checkpoint version 99 is newer" in r.stderr
    r = _cli("train", "--data", str(tmp_path), cwd=tmp_path)
    assert r.returncode == 2 and "no labeled images found" in r.stderr


def test_bad_archives(tmp_path: Path) -> None:
    trunc = tmp_path / "cut.tar.gz"
    src = make_utk(tmp_path / "u", n_per_age=1)
    with tarfile.open(trunc, "w:gz") as tf:
        tf.add(src, arcname="u")
    trunc.write_bytes(trunc.read_bytes()[:2000])
    r = _cli("data", "report", "--data", str(trunc), "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert r.returncode == 2 and "cut.tar.gz" in r.stderr and "Traceback" not in r.stderr
    fake = tmp_path / "fake.zip"
    fake.write_text("not a zip")
    r = _cli("data", "report", "--data", str(fake), "--out", str(tmp_path / "r"), cwd=tmp_path)
    assert r.returncode == 2 and "fake.zip: not a readable zip archive" in r.stderr


def test_bench_and_eval_with_missing_files(tmp_path: Path) -> None:
    r = _cli("bench", str(tmp_path / "nothing_here"), "--no-peak", cwd=tmp_path)
    assert r.returncode != 0 and "no such model file" in (r.stdout + r.stderr)
    write_jpg(tmp_path / "x.jpg", FACE)
    r = _cli("eval", str(tmp_path / "x.jpg"), cwd=tmp_path)
    assert r.returncode == 2 and "unsupported model file type '.jpg'" in r.stderr


# Issue 34, item 1: an output may never be an input, a model file, its card, or inside a folder the command reads.

def _tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes: what a refused command must leave as it was."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _overwrite_case(case: str, tmp: Path) -> tuple[list[str], Path, str]:
    """(argv, the file or folder the command must not write, the option the error must name)."""
    import shutil

    from edge_age.formats import bundled_reference, card_path

    models = tmp / "models"
    models.mkdir()
    for f in (bundled_reference(), card_path(bundled_reference())):
        shutil.copy(f, models / f.name)
    model, card = models / bundled_reference().name, models / card_path(bundled_reference()).name
    a, b = (write_jpg(tmp / f"{n}.jpg", face_image(30 + 20 * i, i, size=96)) for i, n in enumerate("ab"))
    data = make_utk(tmp / "utk", n_per_age=1)
    os.link(card, tmp / "card_link.json")  # the card under another name: the same file
    ev = ["eval", str(model), "--data", str(data), "--split", "all", "--no-progress", "--cache-dir", str(tmp / "c")]
    bench = ["bench", str(model), "--no-peak", "--runs", "1", "--warmup", "0", "--min-seconds", "0"]
    return {
        # `predict --json *.jpg`: the shell hands a.jpg to --json
        "predict_glob_into_json": (["predict", "--crops", "--json", str(a), str(b), "--model", str(model)], a,
                                   "--json"),
        "predict_json_is_an_input": (["predict", "--crops", str(a), "--model", str(model), "--json", str(a)], a,
                                     "--json"),
        "predict_json_is_the_card": (["predict", "--crops", str(a), "--model", str(model), "--json", str(card)], card,
                                     "--json"),
        "predict_json_is_a_hard_link_of_the_card": (["predict", "--crops", str(a), "--model", str(model), "--json",
                                                     str(tmp / "card_link.json")], card, "--json"),
        "predict_annotate_is_an_input": (["predict", "--crops", str(a), "--model", str(model), "--annotate", str(a)], a,
                                         "--annotate"),
        "eval_json_is_the_model": ([*ev, "--json", str(model)], model, "--json"),
        "eval_json_is_the_card": ([*ev, "--json", str(card)], card, "--json"),
        "eval_out_in_the_data": ([*ev, "--out", str(data / "eval")], data, "--out"),
        "eval_report_in_the_data": ([*ev, "--out", str(tmp / "e"), "--report", str(data / "rep")], data, "--report"),
        "bench_md_is_the_card": ([*bench, "--md", str(card)], card, "--md"),
        "bench_json_in_a_model_folder": (["bench", str(models), "--no-peak", "--runs", "1", "--warmup", "0",
                                          "--min-seconds", "0", "--json", str(models / "b.json")], models, "--json"),
        "check_json_is_the_card": (["check", str(model), "--json", str(card)], card, "--json"),
        "models_json_in_a_searched_folder": (["models", str(models), "--json", str(models / "list.json")], models,
                                             "--json"),
        "data_report_out_in_the_data": (["data", "report", "--data", str(data), "--out", str(data / "r"),
                                         "--no-progress"], data, "--out"),
        "data_report_cache_in_the_data": (["data", "report", "--data", str(data), "--out", str(tmp / "r"),
                                           "--cache-dir", str(data / "cache"), "--no-progress"], data, "--cache-dir"),
        "train_out_in_the_data": (["train", "--data", str(data), "--out", str(data / "run"), "--epochs", "1",
                                   "--max-steps", "1", "--threads", "1", "--no-progress",
                                   "--cache-dir", str(tmp / "c")],
                                  data, "--out"),
    }[case]


OVERWRITE_CASES = ["predict_glob_into_json", "predict_json_is_an_input", "predict_json_is_the_card",
                   "predict_json_is_a_hard_link_of_the_card",
                   "predict_annotate_is_an_input", "eval_json_is_the_model", "eval_json_is_the_card",
                   "eval_out_in_the_data", "eval_report_in_the_data", "bench_md_is_the_card",
                   "bench_json_in_a_model_folder", "check_json_is_the_card", "models_json_in_a_searched_folder",
                   "data_report_out_in_the_data", "data_report_cache_in_the_data", "train_out_in_the_data"]


@pytest.mark.parametrize("case", OVERWRITE_CASES)
def test_no_output_is_written_over_an_input_a_model_its_card_or_into_a_folder_read(case: str, tmp_path: Path,
                                                                                   capsys) -> None:
    argv, victim, option = _overwrite_case(case, tmp_path)
    before = _tree(tmp_path)
    capsys.readouterr()
    rc = main(argv)
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert rc == 2 and len(err) == 1 and err[0].startswith("edge-age: error:"), err
    assert option in err[0] and victim.name in err[0], err[0]
    assert _tree(tmp_path) == before  # nothing written, nothing replaced


def test_every_output_option_of_every_command_goes_through_the_check(tmp_path: Path) -> None:
    """Each command declares what it writes and reads (``files``), and every output option it has is among what
    it declares: an output option added without a declaration fails here."""
    from edge_age.cli import build_parser

    def leaves(parser: argparse.ArgumentParser, prefix: list[str]):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield prefix, parser
        for name, p in (subs[0].choices.items() if subs else ()):
            yield from leaves(p, prefix + [name])

    outputs = ("--json", "--csv", "--md", "--plot", "--out", "--annotate", "--report", "--cache-dir")
    positional = {"eval": ["m.onnx"], "export": ["c.pt"], "calibrate": ["m.onnx"]}
    seen = set()
    for cmd, p in leaves(build_parser(), []):
        options = [o for a in p._actions for o in a.option_strings if o in outputs]
        argv = [*cmd, *positional.get(cmd[0], [])] + [x for o in options for x in (o, str(tmp_path / o.strip("-")))]
        args = build_parser().parse_args(argv)
        assert callable(getattr(args, "files", None)), f"{' '.join(cmd)} declares no files"
        declared = {o.option: Path(o.path) for o in args.files(args)[0] if o.path is not None}
        for o in options:
            assert declared.get(o) == tmp_path / o.strip("-"), f"{' '.join(cmd)} {o} is not checked"
            seen.add(o)
    assert seen == set(outputs)
