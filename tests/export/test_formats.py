"""The formats table drives export, runtime and bench; export folders are replaced as a whole."""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

from edge_age import fileio
from edge_age.cli import main
from edge_age.errors import EdgeAgeError
from edge_age.export.config import ExportConfig
from edge_age.formats import FORMATS, META_CARD, META_SPEC, REFERENCE_MODEL, format_of, select, sibling
from edge_age.runtime import load_predictor


# What each runtime name of the table means: the packages whose objects may run such a file.
RUNTIME_PACKAGES = {"onnxruntime": ("onnxruntime",), "litert": ("ai_edge_litert", "tflite_runtime", "tensorflow")}
REFERENCE_EXPORT = Path(__file__).resolve().parents[2] / "export" / REFERENCE_MODEL  # committed, written by export


def _file_facts(path: Path) -> dict:
    """What a model file is, read from its own bytes with its format's library, not from the formats table:
    family (TFLite's FlatBuffer identifier, else a parsable ONNX graph), input layout (where the 3 channels
    are), int8 (quantized tensors inside) and the ONNX metadata keys."""
    data = path.read_bytes()
    if data[4:8] == b"TFL3":
        from ai_edge_litert.interpreter import Interpreter

        it = Interpreter(model_path=str(path))
        shape = list(it.get_input_details()[0]["shape"])
        int8 = any(t["dtype"] == np.int8 for t in it.get_tensor_details())
        return {"family": "tflite", "layout": "NHWC" if shape[-1] == 3 else "NCHW", "int8": int8, "metadata": set()}
    model = onnx.load_model_from_string(data)
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    int8 = any(t.data_type in (onnx.TensorProto.INT8, onnx.TensorProto.UINT8) for t in model.graph.initializer)
    return {"family": "onnx", "layout": "NCHW" if shape[1] == 3 else "NHWC", "int8": int8,
            "metadata": {p.key for p in model.metadata_props}}


def _engine_package(predictor) -> str:
    """The top-level package of the object that runs the file inside a predictor."""
    engine = getattr(predictor, "session", None) or getattr(predictor, "interp")
    return type(engine).__module__.split(".")[0]


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
def test_every_row_describes_the_file_export_wrote_and_the_runtime_that_runs_it(fmt) -> None:
    """Each row against the committed reference export (the files an export wrote, and its card): the file
    with the row's suffix is of the row's family, layout and precision; the predictor the loader picks for that
    suffix is the row's class and runs the file with the row's runtime; the card names that file under the row."""
    path = REFERENCE_EXPORT / f"{REFERENCE_MODEL}{fmt.suffix}"
    facts = _file_facts(path)
    assert (facts["family"], facts["layout"], facts["int8"]) == (fmt.family, fmt.layout, fmt.int8), facts
    assert format_of(path) is fmt
    predictor = load_predictor(path, check=False)
    assert type(predictor).__name__ == fmt.predictor.split(":")[1] and predictor.runtime == fmt.runtime
    assert _engine_package(predictor) in RUNTIME_PACKAGES[fmt.runtime]
    card = json.loads((REFERENCE_EXPORT / f"{REFERENCE_MODEL}.json").read_text())
    entry = card["files"][fmt.name]
    assert (entry["file"], entry["runtime"], entry["layout"]) == (path.name, fmt.runtime, facts["layout"])
    assert list(inspect.signature(fmt.load_writer()).parameters)[:2] == ["job", "path"]  # as the exporter calls it
    if fmt.int8:
        assert sibling(fmt, "fp32") is not None and "calib_size" in fmt.options


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
def test_exported_files_carry_the_metadata_their_row_declares(exported: dict, fmt, tmp_path: Path) -> None:
    """This session's export: one file per row, as the row describes it; its card entry names that file, its
    size, hash and layout; the metadata keys the row declares are the file's, and a file that declares none
    cannot be opened without its card."""
    out, card = exported["out"], exported["card"]
    want = ["simplecnn.json", *(f"simplecnn{f.suffix}" for f in FORMATS)]
    assert sorted(p.name for p in out.iterdir()) == sorted(want)
    path = out / f"simplecnn{fmt.suffix}"
    facts = _file_facts(path)
    assert (facts["family"], facts["layout"], facts["int8"]) == (fmt.family, fmt.layout, fmt.int8), facts
    entry = card.files[fmt.name]
    assert (entry["file"], entry["bytes"], entry["layout"]) == (path.name, path.stat().st_size, facts["layout"])
    assert entry["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    predictor = load_predictor(path)
    assert type(predictor).__name__ == fmt.predictor.split(":")[1]
    assert _engine_package(predictor) in RUNTIME_PACKAGES[fmt.runtime]
    assert facts["metadata"] == set(fmt.metadata)
    alone = tmp_path / path.name  # the file without its card
    shutil.copy(path, alone)
    if fmt.metadata:  # the preprocessing travels inside the file
        assert set(fmt.metadata) == {META_SPEC, META_CARD}
        assert load_predictor(alone, check=False).spec == card.preprocess
    else:
        with pytest.raises(EdgeAgeError, match="model card"):
            load_predictor(alone, check=False)


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
                                          formats=("onnx_int8", "tflite_int8"), calib_size=40, limit=40),
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
                       calib_size=40, limit=40)
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
                                   limit=40), progress=False, cache_dir=exported["cache"], log=lambda s: None)
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



def test_a_staged_folder_is_swapped_in_whole_or_not_at_all(tmp_path: Path) -> None:
    """The one staging/swap of sets of files plus an index (export's files and card, data wild's scenes and
    labels.csv): an interrupt leaves the previous set; a smaller new set leaves none of the old files behind."""
    out = tmp_path / "set"
    out.mkdir()
    for name, text in (("0.jpg", "old0"), ("1.jpg", "old1"), ("index.csv", "0.jpg\n1.jpg\n")):
        (out / name).write_text(text)
    (out / "notes.txt").write_text("mine")
    with pytest.raises(KeyboardInterrupt):
        with fileio.staged_folder(out, {"0.jpg", "1.jpg", "index.csv"}, index="index.csv") as staging:
            (staging / "0.jpg").write_text("new0")
            raise KeyboardInterrupt
    assert (out / "0.jpg").read_text() == "old0" and sorted(p.name for p in tmp_path.iterdir()) == ["set"]
    with fileio.staged_folder(out, {"0.jpg", "1.jpg", "index.csv"}, index="index.csv") as staging:
        (staging / "0.jpg").write_text("new0")
        (staging / "index.csv").write_text("0.jpg\n")
    assert {p.name: p.read_text() for p in out.iterdir()} == {"0.jpg": "new0", "index.csv": "0.jpg\n",
                                                              "notes.txt": "mine"}


@pytest.mark.parametrize("name", ["../../x", "sub/x", "..", "", " ", "a\\b", "x..y"])
def test_export_name_is_a_file_name_not_a_path(name: str, tmp_path: Path, capsys) -> None:
    """Issue 34, item 4: ``--name ../../x`` wrote NAME.json and the model files outside --out."""
    ckpt = tmp_path / "run" / "best.pt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"never read: the name is refused first")
    out = tmp_path / "a" / "b" / "out"
    rc = main(["export", str(ckpt), "--out", str(out), "--name", name, "--no-progress"])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert rc == 2 and len(err) == 1 and "--name" in err[0] and "not a file name" in err[0], err
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["run", "run/best.pt"]
    with pytest.raises(EdgeAgeError, match="--name"):
        ExportConfig(str(ckpt), name=name)  # the library entry point refuses it too

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
    rc = main(["predict", "--crops", str(tmp_path / "none.jpg"), "--model", str(out / "simplecnn_int8.tflite")])
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
    rc = main(["predict", "--crops", str(tmp_path / "none.jpg"), "--model", str(out / "simplecnn_int8.tflite")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and says in err and "simplecnn.json" in err and len(err.splitlines()) == 1, err


def test_the_card_reads_back_what_export_wrote(exported: dict) -> None:
    from edge_age.runtime.card import ModelCard

    on_disk = json.loads((exported["out"] / "simplecnn.json").read_text())
    card = ModelCard.from_dict(on_disk)
    assert card == exported["card"] and card.to_dict() == on_disk
