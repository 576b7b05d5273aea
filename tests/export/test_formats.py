"""The formats table drives export, runtime and bench; export folders are replaced as a whole."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import onnx
import pytest

from edge_age import fileio
from edge_age.cli import main
from edge_age.errors import EdgeAgeError
from edge_age.export.config import ExportConfig
from edge_age.formats import FORMATS, META_CARD, META_SPEC, format_of, select, sibling
from edge_age.runtime import load_predictor


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
def test_every_row_names_a_writer_and_a_predictor_that_exist(fmt) -> None:
    assert callable(fmt.load_writer())
    assert fmt.load_predictor().runtime == fmt.runtime
    assert format_of(f"model{fmt.suffix}") is fmt
    assert fmt.family in fmt.name and fmt.precision in fmt.name
    if fmt.int8:
        assert sibling(fmt, "fp32") is not None and "calib_size" in fmt.options


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
def test_exported_files_carry_the_metadata_their_row_declares(exported: dict, fmt) -> None:
    path = exported["out"] / f"simplecnn{fmt.suffix}"
    assert type(load_predictor(path)).__name__ == fmt.predictor.split(":")[1]
    if path.suffix == ".onnx":
        keys = {p.key for p in onnx.load(str(path)).metadata_props}
        assert keys == set(fmt.metadata) == {META_SPEC, META_CARD}
    else:
        assert fmt.metadata == ()  # the spec comes from the card next to the file
    assert exported["card"].files[fmt.name]["layout"] == fmt.layout


@pytest.mark.parametrize("requested, int8, want", [
    (("onnx",), False, ["onnx_fp32"]),
    (("onnx", "tflite"), True, ["onnx_fp32", "onnx_int8", "tflite_fp32", "tflite_int8"]),
    (("tflite_int8",), False, ["tflite_int8"]),
    (("tflite_int8", "onnx"), False, ["onnx_fp32", "tflite_int8"]),
])
def test_select_takes_families_and_rows(requested, int8, want) -> None:
    assert [f.name for f in select(requested, int8)] == want


@pytest.mark.parametrize("argv, culprit", [
    (["--formats", "onnx", "--qat-epochs", "1"], "--qat-epochs"),
    (["--formats", "onnx,tflite", "--calib-size", "50"], "--calib-size"),
    (["--formats", "onnx", "--int8", "--qat-epochs", "0.5"], "--qat-epochs"),
    (["--formats", "coreml"], "coreml"),
    (["--formats", ","], "--formats"),
])
def test_an_option_no_chosen_row_takes_is_a_one_line_error(argv, culprit, tmp_path: Path, capsys) -> None:
    rc = main(["export", str(tmp_path / "none.pt"), *argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and culprit in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_one_row_can_be_asked_for(exported: dict, tmp_path: Path, capfd) -> None:
    from edge_age.export.exporter import export_checkpoint

    out = tmp_path / "one"
    capfd.readouterr()
    card = export_checkpoint(ExportConfig(str(exported["root"] / "run" / "best.pt"), out=str(out),
                                          formats=("onnx_int8", "tflite_int8"), calib_size=40, val_limit=40),
                             progress=False, cache_dir=exported["cache"], log=lambda s: None)
    said = capfd.readouterr()
    assert said.out == "" and said.err == "", said  # the converters' and quantizers' own output stays off
    assert list(card.files) == ["onnx_int8", "tflite_int8"]
    assert sorted(p.name for p in out.iterdir()) == ["simplecnn.json", "simplecnn_int8.onnx", "simplecnn_int8.tflite"]
    assert not list(tmp_path.glob(".one*")), "staging left behind"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_an_export_killed_half_way_leaves_the_previous_set(exported: dict, tmp_path: Path, monkeypatch) -> None:
    from edge_age.export import onnx_export
    from edge_age.export.exporter import export_checkpoint

    out = tmp_path / "export"
    shutil.copytree(exported["out"], out)
    before = _snapshot(out)

    def killed(job, path):
        raise KeyboardInterrupt

    monkeypatch.setattr(onnx_export, "write_int8", killed)
    cfg = ExportConfig(str(exported["root"] / "run" / "best.pt"), out=str(out), int8=True, formats=("onnx",),
                       calib_size=40, val_limit=40)
    with pytest.raises(KeyboardInterrupt):
        export_checkpoint(cfg, progress=False, cache_dir=exported["cache"], log=lambda s: None)
    assert _snapshot(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "staging left behind"


def test_a_new_set_replaces_the_old_one_as_a_whole(exported: dict, tmp_path: Path) -> None:
    from edge_age.export.exporter import export_checkpoint

    out = tmp_path / "export"
    shutil.copytree(exported["out"], out)
    (out / "notes.txt").write_text("mine")  # a file the export does not own stays
    export_checkpoint(ExportConfig(str(exported["root"] / "run" / "best.pt"), out=str(out), formats=("onnx",),
                                   val_limit=40), progress=False, cache_dir=exported["cache"], log=lambda s: None)
    card = json.loads((out / "simplecnn.json").read_text())
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt", "simplecnn.json", "simplecnn_fp32.onnx"]
    assert list(card["files"]) == ["onnx_fp32"] and (out / "notes.txt").read_text() == "mine"


def test_staging_recovers_from_a_kill_between_the_two_renames(tmp_path: Path) -> None:
    out = tmp_path / "m"
    old = tmp_path / ".m.old"
    old.mkdir()
    (old / "m.json").write_text("{}")
    dead = tmp_path / ".m.staging-999999999"  # no such process
    dead.mkdir()
    staging = fileio.staging_folder(out)
    assert (out / "m.json").read_text() == "{}" and not old.exists() and not dead.exists()
    assert staging.name == f".m.staging-{os.getpid()}" and staging.is_dir()
    (staging / "m.json").write_text('{"new": 1}')
    fileio.swap_in_folder(staging, out, {"m.json"})
    assert json.loads((out / "m.json").read_text()) == {"new": 1} and not staging.exists()


def test_swap_refuses_a_file_in_place_of_the_folder(tmp_path: Path) -> None:
    out = tmp_path / "m"
    out.write_text("a file")
    staging = fileio.staging_folder(tmp_path / "n")
    with pytest.raises(EdgeAgeError, match="not a folder"):
        fileio.swap_in_folder(staging, out, set())
    assert out.read_text() == "a file"


def test_exported_files_take_pixels(exported: dict) -> None:
    """Contract 1: normalisation is inside every exported file; the int8 TFLite input is pixel - 128."""
    import numpy as np

    card = exported["card"]
    assert card.preprocess.input_pixels is True
    entry = card.files["tflite_int8"]["input"]
    assert (entry["scale"], entry["zero_point"]) == (1.0, -128)
    tfl = load_predictor(exported["out"] / "simplecnn_int8.tflite")
    face = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    np.testing.assert_array_equal(tfl.input_tensor(face)[0], face.astype(np.int16) - 128)
    onnx_pred = load_predictor(exported["out"] / "simplecnn_fp32.onnx")
    assert onnx_pred.spec.input_pixels  # from the file's own metadata


def test_the_int8_pixel_input_shortcut_gives_the_general_path_bytes() -> None:
    """The TFLite predictor feeds pixel - 128 to files that normalise inside without the float round trip."""
    import numpy as np

    from edge_age.formats import bundled_reference

    p = load_predictor(bundled_reference(), check=False)
    assert p._pixel_minus_128
    face = np.arange(64 * 64 * 3, dtype=np.int64).reshape(64, 64, 3) % 256  # every byte value
    face = face.astype(np.uint8)
    fast = p.input_tensor(face)
    p._pixel_minus_128 = False
    general = p.input_tensor(face)
    assert fast.dtype == general.dtype == np.int8 and fast.shape == general.shape == (1, 64, 64, 3)
    np.testing.assert_array_equal(fast, general)


@pytest.mark.parametrize("field, value, says", [
    ("mean", [1.0, 2.0], "mean must be 3 finite numbers"),
    ("std", [1.0, 0.0, 1.0], "std must be positive"),
    ("interpolation", "lanczos9", "unknown interpolation"),
    ("size", "64", "size must be an integer"),
    ("framing", "wide", "framing must be a mapping"),
    ("layout", "CHWN", "layout must be"),
])
def test_a_card_with_a_bad_spec_is_a_one_line_error_naming_the_file(exported: dict, tmp_path: Path, field, value,
                                                                      says, capsys) -> None:
    out = tmp_path / "m"
    shutil.copytree(exported["out"], out)
    card_file = out / "simplecnn.json"
    card = json.loads(card_file.read_text())
    card["preprocess"][field] = value
    card_file.write_text(json.dumps(card))
    rc = main(["predict", str(tmp_path / "none.jpg"), "--model", str(out / "simplecnn_int8.tflite")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and says in err and "simplecnn" in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("edit, says", [
    (lambda c: c.pop("model"), "no model"),
    (lambda c: c.update(files=["simplecnn_int8.tflite"]), "files is a list"),
    (lambda c: c.update(name=7), "name is a int"),
    (lambda c: c.update(data="UTKFace"), "data is a str"),
    (lambda c: c.update(trained="yes"), "trained is a str"),
    (lambda c: c["files"]["tflite_int8"]["golden"].update(ages="old"), "files.tflite_int8.golden needs"),
    (lambda c: c["files"]["tflite_int8"]["golden"].update(ages_safe=[1.0]), "files.tflite_int8.golden needs"),
    (lambda c: c["files"]["onnx_fp32"]["interval"]["bands"][0].update(err=[1]), "files.onnx_fp32.interval needs"),
    (lambda c: c["files"]["tflite_int8"].update(interval={"level": 0.8, "bands": []}), "interval needs"),
    (lambda c: c["files"]["tflite_int8"]["golden"].update(n=10 ** 6), "files.tflite_int8.golden needs"),
    (lambda c: c["files"]["tflite_int8"]["golden"].update(seed=-1), "files.tflite_int8.golden needs"),
    (lambda c: c["files"]["onnx_fp32"]["interval"]["bands"].reverse(), "bands must start from 0 and rise"),
    (lambda c: c["files"]["onnx_fp32"]["interval"]["bands"][0].update({"from": 5}), "bands must start from 0"),
], ids=["no model", "files list", "name number", "data string", "trained string", "golden ages text",
        "golden safe short", "interval err short", "interval no bands", "golden n huge", "golden seed negative",
        "interval bands reversed", "interval bands from 5"])
def test_a_card_with_a_missing_or_mistyped_field_is_a_one_line_error(exported: dict, tmp_path: Path, edit, says,
                                                                     capsys) -> None:
    out = tmp_path / "m"
    shutil.copytree(exported["out"], out)
    card_file = out / "simplecnn.json"
    card = json.loads(card_file.read_text())
    edit(card)
    card_file.write_text(json.dumps(card))
    rc = main(["predict", str(tmp_path / "none.jpg"), "--model", str(out / "simplecnn_int8.tflite")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and says in err and "simplecnn.json" in err and len(err.splitlines()) == 1, err


def test_the_card_reads_back_what_export_wrote(exported: dict) -> None:
    from edge_age.runtime.card import ModelCard

    on_disk = json.loads((exported["out"] / "simplecnn.json").read_text())
    card = ModelCard.from_dict(on_disk)
    assert card == exported["card"] and card.to_dict() == on_disk
