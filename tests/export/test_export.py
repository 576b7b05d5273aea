"""Export: every format of the table is written, re-run through the runtime and agrees with PyTorch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import face_image, write_jpg
from edge_age.cli import main
from edge_age.errors import EdgeAgeError
from edge_age.export.exporter import ExportConfig, export_checkpoint
from edge_age.formats import FORMATS, card_path, get_format
from edge_age.runtime import load_predictor

# Tolerances in years, against the PyTorch fp32 model on the val faces.
FP32_MAX_DIFF = 0.01
INT8_MEAN_DIFF = 0.75


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
def test_every_format_is_written_and_agrees_with_pytorch(exported: dict, fmt) -> None:
    path = exported["out"] / f"simplecnn{fmt.suffix}"
    assert path.is_file()
    entry = exported["card"].files[fmt.name]
    assert entry["bytes"] == path.stat().st_size and entry["int8"] == fmt.int8
    parity = entry["parity"]
    if fmt.int8:
        assert parity["mean_abs_diff"] < INT8_MEAN_DIFF, parity
        assert parity["mae_ratio_vs_fp32"] <= 1.05 and parity["spread_ratio_vs_torch"] >= 0.5
        assert path.stat().st_size < 0.3 * (exported["out"] / f"simplecnn_fp32{path.suffix}").stat().st_size
    else:
        assert parity["max_abs_diff"] < FP32_MAX_DIFF, parity
    # Reload independently through the runtime and predict the same faces again.
    from edge_age.models.checkpoint import TorchPredictor
    from edge_age.data.preprocess import PreprocessSpec, prepare_face

    faces = np.stack([prepare_face(face_image(a, 1000 + a, size=160), PreprocessSpec()) for a in (5, 30, 70)])
    got = load_predictor(path).predict(faces)
    want = TorchPredictor(exported["root"] / "run" / "best.pt").predict(faces)
    tol = 3.0 if fmt.int8 else FP32_MAX_DIFF
    np.testing.assert_allclose(got, want, atol=tol)


def test_tflite_int8_has_int8_io_and_card_carries_quantization(exported: dict) -> None:
    e = exported["card"].files["tflite_int8"]
    assert e["input"]["dtype"] == "int8" and e["output"]["dtype"] == "int8"
    assert e["input"]["shape"] == [1, 128, 128, 3] and e["input"]["scale"] > 0
    assert -128 <= e["input"]["zero_point"] <= 127
    card = json.loads(card_path(exported["out"] / "simplecnn_int8.tflite").read_text())
    assert card["preprocess"]["size"] == 128 and card["calibration"]["n"] == 60
    assert card["command"] == "pytest"
    # The run folder is scratch space: the card keeps how the weights were trained.
    assert card["checkpoint"]["train_command"] == ["edge-age train (pytest)"]


def test_onnx_metadata_carries_the_spec(exported: dict) -> None:
    import onnx

    m = onnx.load(str(exported["out"] / "simplecnn_int8.onnx"))
    meta = {p.key: p.value for p in m.metadata_props}
    assert json.loads(meta["edge_age.preprocess"]) == exported["card"].preprocess.to_dict()
    assert m.opset_import[0].version >= 17
    assert any(n.op_type == "QuantizeLinear" for n in m.graph.node)  # static QDQ, not dynamic
    assert not any(n.op_type in ("DynamicQuantizeLinear", "ConvInteger") for n in m.graph.node)


def test_int8_onnx_stem_is_padded_to_four_channels_without_changing_ages(exported: dict, tmp_path: Path) -> None:
    import onnx
    import onnxruntime as ort

    from edge_age.export.onnx_export import pad_stem_channels

    path = exported["out"] / "simplecnn_int8.onnx"
    m = onnx.load(str(path))
    pads = [n for n in m.graph.node if n.op_type == "Pad"]
    assert len(pads) == 1 and m.graph.input[0].type.tensor_type.shape.dim[1].dim_value == 3
    # The file takes pixels: its float normalisation runs first, the padded stem right after it.
    nodes = list(m.graph.node)
    norm = next(n for n in nodes if m.graph.input[0].name in n.input)
    assert norm.op_type == "Conv" and pads[0].input[0] == norm.output[0]
    assert nodes.index(norm) < nodes.index(pads[0])

    def stem(model):
        return next(t for t in model.graph.initializer if t.name.endswith("features.0.weight_quantized"))

    assert list(stem(m).dims) == [32, 4, 3, 3]
    assert not pad_stem_channels(m)  # already padded: left alone
    # Strip the padding (the Pad node, the extra weight channel), pad again: the ages must not move.
    raw = onnx.load(str(path))
    pad = next(n for n in raw.graph.node if n.op_type == "Pad")
    raw.graph.node.remove(pad)
    raw.graph.initializer.remove(next(t for t in raw.graph.initializer if t.name == pad.input[1]))
    for n in raw.graph.node:
        n.input[:] = [pad.input[0] if i == pad.output[0] else i for i in n.input]
    w = stem(raw)
    w.CopyFrom(onnx.numpy_helper.from_array(onnx.numpy_helper.to_array(w)[:, :3].copy(), w.name))
    onnx.save(raw, str(tmp_path / "unpadded.onnx"))
    assert pad_stem_channels(raw)
    onnx.save(raw, str(tmp_path / "repadded.onnx"))
    x = np.random.default_rng(0).uniform(0, 255, (6, 3, 128, 128)).astype(np.float32)
    ages = [ort.InferenceSession(str(tmp_path / f), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
            for f in ("unpadded.onnx", "repadded.onnx")]
    np.testing.assert_array_equal(ages[0], ages[1])


def test_broken_calibration_trips_the_collapse_guard(exported: dict, tmp_path: Path) -> None:
    black = tmp_path / "black"
    for i in range(12):
        write_jpg(black / f"{20 + i}_0_0_2017{i:04d}.jpg", np.zeros((128, 128, 3), np.uint8))
    out = tmp_path / "exp"
    cfg = ExportConfig(str(exported["root"] / "run" / "best.pt"), out=str(out), int8=True, formats=("onnx",),
                       calib_data=str(black))
    with pytest.raises(EdgeAgeError, match="collapse guard"):
        export_checkpoint(cfg, progress=False, cache_dir=exported["cache"], log=lambda s: None)
    assert not (out / "simplecnn_int8.onnx").exists() and (out / "simplecnn_fp32.onnx").exists()


def test_runtime_predicts_without_torch(exported: dict) -> None:
    code = (
        "import sys, numpy as np\n"
        "from edge_age.runtime import load_predictor\n"
        f"for f in {[str(exported['out'] / ('simplecnn' + f.suffix)) for f in FORMATS]!r}:\n"
        "    p = load_predictor(f)\n"
        "    y = p.predict(np.full((2, 128, 128, 3), 120, np.uint8))\n"
        "    assert y.shape == (2,) and np.isfinite(y).all()\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'torch'], 'torch imported'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]


def test_predict_cli(exported: dict, tmp_path: Path, capsys) -> None:
    imgs = [write_jpg(tmp_path / f"face{i}.jpg", face_image(a, i, size=150)) for i, a in enumerate((10, 50))]
    bad = tmp_path / "bad.jpg"
    bad.write_text("not an image")
    js = tmp_path / "p.json"
    rc = main(["predict", "--crops", *map(str, imgs), str(bad), "--model", str(exported["out"] / "simplecnn_int8.tflite"),
               "--json", str(js), "--annotate", str(tmp_path / "ann")])
    assert rc == 0
    res = json.loads(js.read_text())["results"]
    assert [("age" in r) for r in res] == [True, True, False]
    assert "not a readable image" in res[2]["error"]
    assert (tmp_path / "ann" / "face0_age.jpg").is_file()
    err = capsys.readouterr().err
    assert "3 image(s), 2 face(s), 1 skipped" in err
    # With detection (the default), a photo without a face is reported, not silently given an age.
    blank = write_jpg(tmp_path / "blank.jpg", np.full((200, 300, 3), 90, np.uint8))
    assert main(["predict", str(blank), "--model",
                 str(exported["out"] / "simplecnn_fp32.onnx")]) == 2


@pytest.mark.parametrize("suffix", ["_fp32.onnx", "_int8.tflite"])
def test_eval_accepts_exported_files(exported: dict, suffix: str, tmp_path: Path) -> None:
    js = tmp_path / "m.json"
    rc = main(["eval", str(exported["out"] / f"simplecnn{suffix}"), "--split", "val", "--json", str(js),
               "--data", str(exported["data"]), "--cache-dir", str(exported["cache"]), "--out", str(tmp_path),
               "--no-progress"])
    assert rc == 0
    m = json.loads(js.read_text())["metrics"]
    card_mae = exported["card"].files[("onnx_fp32" if "onnx" in suffix else "tflite_int8")]["parity"]["mae"]
    assert m["mae"] == pytest.approx(card_mae, abs=1e-3)  # same faces, same code path as the export check


@pytest.mark.parametrize("damage", ["truncate", "other"])
def test_corrupt_or_foreign_model_files_give_clear_errors(exported: dict, tmp_path: Path, damage: str) -> None:
    for fmt in ("_fp32.onnx", "_fp32.tflite"):
        src = exported["out"] / f"simplecnn{fmt}"
        dst = tmp_path / src.name
        data = src.read_bytes()
        dst.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"\x00" * 4096)
        (tmp_path / "simplecnn.json").write_text((exported["out"] / "simplecnn.json").read_text())
        with pytest.raises(EdgeAgeError, match=r"not a loadable"):
            load_predictor(dst)


def test_every_exported_file_carries_golden_outputs_it_reproduces(exported: dict) -> None:
    from edge_age.runtime.check import golden_of, run_check
    from edge_age.runtime.golden import GOLDEN_COUNT

    for name, entry in exported["card"].files.items():
        golden = entry["golden"]
        assert len(golden["ages"]) == len(golden["ages_safe"]) == GOLDEN_COUNT and golden["tolerance"] > 0, name
        fmt = get_format(name)
        p = load_predictor(exported["out"] / entry["file"], check=False)
        assert golden_of(p) == golden
        verdict = run_check(p, lambda: fmt.load_predictor()(exported["out"] / entry["file"], safe=True), golden)
        assert verdict.ok and verdict.max_diff == 0.0, (name, verdict)  # same machine, same bytes out


def test_export_on_another_dataset_records_the_training_data_beside_it(exported: dict, tmp_path: Path) -> None:
    """export --data names the set the files are proven on (the card's data, what eval scores by default); when it
    is not the training data, the card keeps that too, with its counts. A stored --detect-faces would not carry
    over to the other set (DataConfig.with_path): the proving set is read as the chips it is."""
    import shutil

    from edge_age.data.dataset import DataConfig

    assert "data" not in exported["card"].checkpoint and exported["card"].split_counts  # trained on the same set
    moved = tmp_path / "elsewhere"
    shutil.copytree(exported["data"], moved)
    cfg = ExportConfig(str(exported["root"] / "run" / "best.pt"), out=str(tmp_path / "exp"), formats=("onnx_fp32",),
                       data=str(moved))
    card = export_checkpoint(cfg, progress=False, cache_dir=exported["cache"], log=lambda s: None)
    assert card.data["path"] == str(moved) and not card.data["detect_faces"]
    assert card.checkpoint["data"] == DataConfig(str(exported["data"])).to_dict()
    assert card.checkpoint["split_counts"] == exported["card"].split_counts and card.split_counts is None
    # a checkpoint that says it trained on photos: proven on the other set as chips, and the card says so
    import torch

    ckpt = torch.load(exported["root"] / "run" / "best.pt", map_location="cpu", weights_only=False)
    ckpt["data"] = {**ckpt["data"], "detect_faces": True}
    torch.save(ckpt, tmp_path / "photos.pt")
    card = export_checkpoint(ExportConfig(**{**cfg.__dict__, "checkpoint": str(tmp_path / "photos.pt"),
                                             "out": str(tmp_path / "exp1")}),
                             progress=False, cache_dir=exported["cache"], log=lambda s: None)
    assert not card.data["detect_faces"] and card.checkpoint["data"]["detect_faces"]
    # --detect-faces reads the set as photos: the generated faces are no detector's faces, so none is found
    with pytest.raises(EdgeAgeError, match="could be read"):
        export_checkpoint(ExportConfig(**{**cfg.__dict__, "out": str(tmp_path / "exp2"), "detect_faces": True}),
                          progress=False, cache_dir=exported["cache"], log=lambda s: None)


def test_export_framing_replaces_the_checkpoints_in_the_card_and_the_file(exported: dict, tmp_path: Path,
                                                                          capsys) -> None:
    """`export --framing`: the files carry another detector's fit (what scripts/set_framing.py did after the
    fact), in the card and in the ONNX file's spec, and the runtime reads that framing back."""
    import onnx

    from edge_age.data.framing_fit import load_fit

    bundled, _ = load_fit("mtcnn")
    assert exported["card"].preprocess.framing != bundled  # the fixture trained with the default framing
    out = tmp_path / "framed"
    rc = main(["export", str(exported["root"] / "run" / "best.pt"), "--formats", "onnx_fp32", "--framing", "mtcnn",
               "--limit", "20", "--out", str(out), "--cache-dir", str(exported["cache"]), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    card = json.loads((out / "simplecnn.json").read_text())
    assert card["preprocess"]["framing"] == bundled.to_dict()
    meta = {p.key: p.value for p in onnx.load(str(out / "simplecnn_fp32.onnx")).metadata_props}
    assert json.loads(meta["edge_age.preprocess"])["framing"] == bundled.to_dict()
    assert load_predictor(out / "simplecnn_fp32.onnx").spec.framing == bundled
