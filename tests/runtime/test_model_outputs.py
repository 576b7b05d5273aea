"""A model's output must be one finite age per face (issue 34, items 5 and 6).

Hostile models are tiny ONNX graphs built here, each beside a card copied from the bundled reference's:
one whose output is NaN (or infinite) for dark faces and finite for bright ones, and ones that give two
numbers per face. Every JSON edge-age writes is strict JSON: no bare NaN or Infinity.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from conftest import drawn_face
from edge_age import fileio
from edge_age.cli import main
from edge_age.errors import EdgeAgeError
from edge_age.formats import bundled_reference, card_path
from edge_age.runtime import load_predictor

SIZE = 64  # the bundled reference's input side, which the copied card states
DARK, BRIGHT = 40, 200  # mean pixel of a face: the hostile graphs give NaN/inf below 128, an age above


@pytest.fixture(autouse=True)
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGE_AGE_CACHE", str(tmp_path / "cache"))


def _strict(text: str):
    """json.loads that refuses NaN, Infinity and -Infinity, as strict parsers (JavaScript's, Go's) do."""
    def refuse(token: str):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=refuse)


def _const(name: str, value, dtype=TensorProto.FLOAT) -> onnx.NodeProto:
    arr = np.asarray(value, np.float32 if dtype == TensorProto.FLOAT else np.int64)
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(name, dtype, arr.shape, arr.ravel()))


def _graph(kind: str) -> tuple[list[onnx.NodeProto], list]:
    """Nodes from the face's mean pixel ``m`` to the output ``age``, and the output's declared shape."""
    nodes = [helper.make_node("ReduceMean", ["input"], ["m"], axes=[1, 2, 3], keepdims=0),
             _const("c128", 128.0), _const("ax1", [1], TensorProto.INT64),
             helper.make_node("Sub", ["m", "c128"], ["d"])]
    if kind == "nan":  # sqrt of a negative number: NaN for dark faces
        nodes += [helper.make_node("Sqrt", ["d"], ["a"]), helper.make_node("Unsqueeze", ["a", "ax1"], ["age"])]
        return nodes, ["batch", 1]
    if kind == "nan_all":  # sqrt of -(m + 129): NaN for every face
        nodes += [helper.make_node("Neg", ["m"], ["n"]), helper.make_node("Sub", ["n", "c128"], ["e"]),
                  helper.make_node("Sqrt", ["e"], ["a"]), helper.make_node("Unsqueeze", ["a", "ax1"], ["age"])]
        return nodes, ["batch", 1]
    if kind == "inf":  # log of zero: -inf for dark faces
        nodes += [helper.make_node("Relu", ["d"], ["r"]), helper.make_node("Log", ["r"], ["a"]),
                  helper.make_node("Unsqueeze", ["a", "ax1"], ["age"])]
        return nodes, ["batch", 1]
    # two numbers per face: [m, m + 1], as [batch, 2]
    pair = "age" if kind == "two" else "pair"
    nodes += [helper.make_node("Unsqueeze", ["m", "ax1"], ["a"]), _const("one", 1.0),
              helper.make_node("Add", ["a", "one"], ["b"]), helper.make_node("Concat", ["a", "b"], [pair], axis=1)]
    if kind == "two":
        return nodes, ["batch", 2]
    # ... or reshaped to [batch, -1] by a shape computed at run time: the file leaves the second dimension open
    nodes += [helper.make_node("Shape", [pair], ["s"]), _const("zero", [0], TensorProto.INT64),
              _const("minus1", [-1], TensorProto.INT64), helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
              helper.make_node("Concat", ["n", "minus1"], ["shp"], axis=0),
              helper.make_node("Reshape", [pair, "shp"], ["age"])]
    return nodes, ["batch", "k"]


def hostile_model(folder: Path, kind: str) -> Path:
    """``folder/hostile_fp32.onnx`` (``kind``: nan, nan_all, inf, two, two_dynamic) and its card ``hostile.json``,
    the bundled reference's card with this one file in it (its 80% intervals, no golden outputs)."""
    nodes, out_shape = _graph(kind)
    graph = helper.make_graph(nodes, "hostile",
                              [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])],
                              [helper.make_tensor_value_info("age", TensorProto.FLOAT, out_shape)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hostile_fp32.onnx"
    onnx.save(model, str(path))
    card = json.loads(card_path(bundled_reference()).read_text())
    ref = card["files"]["onnx_fp32"]
    card["files"] = {"onnx_fp32": {"file": path.name, "format": "onnx_fp32", "runtime": "onnxruntime",
                                   "int8": False, "output": {"dtype": "float32"}, "interval": ref["interval"]}}
    card_path(path).write_text(json.dumps(card))
    return path


def _face(path: Path, level: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cv2.imencode(".png", np.full((SIZE, SIZE, 3), level, np.uint8))[1].tobytes())
    return path


# ------------------------------------------------------------------------------------ 5: NaN / infinite


@pytest.mark.parametrize("kind", ["nan", "inf"])
def test_predict_makes_a_non_finite_output_an_error_of_that_face(kind: str, tmp_path: Path, capsys) -> None:
    model = hostile_model(tmp_path / "m", kind)
    dark, bright = _face(tmp_path / "dark.png", DARK), _face(tmp_path / "bright.png", BRIGHT)
    js = tmp_path / "out.json"
    rc = main(["predict", "--crops", str(dark), str(bright), "--model", str(model), "--json", str(js)])
    out, err = capsys.readouterr()
    assert rc == 0  # the bright face was scored
    assert "nan" not in out.lower() and "inf" not in out.lower(), out
    assert f"{bright}\t" in out and f"{dark}\t" not in out, out
    named = [s for s in err.splitlines() if str(dark) in s]
    assert len(named) == 1 and "face 1" in named[0] and ("NaN" if kind == "nan" else "infinite") in named[0], err
    assert "1 face error" in err.splitlines()[-1], err  # counted
    results = _strict(js.read_text())["results"]
    bad = [r for r in results if r["file"] == str(dark)]
    assert len(bad) == 1 and "error" in bad[0] and bad[0]["face"] == 1 and "age" not in bad[0], bad
    assert [r for r in results if r["file"] == str(bright)][0]["age"] == pytest.approx(math.sqrt(BRIGHT - 128)
                                                                                       if kind == "nan" else
                                                                                       math.log(BRIGHT - 128), abs=0.01)
    # nothing scored: the run fails, in one named line per face
    assert main(["predict", "--crops", str(dark), "--model", str(model), "--json", str(js)]) == 2
    assert "error" in _strict(js.read_text())["results"][0]


def test_eval_leaves_out_and_names_the_faces_without_an_age(tmp_path: Path, capsys) -> None:
    model = hostile_model(tmp_path / "m", "nan")
    for k, (age, level) in enumerate([(5, BRIGHT), (30, DARK), (60, BRIGHT), (70, DARK)]):
        _face(tmp_path / "faces" / str(age) / f"f{k}.png", level)
    out = tmp_path / "eval"
    argv = ["eval", str(model), "--data", str(tmp_path / "faces"), "--split", "all", "--no-progress",
            "--out", str(out), "--threads", "1", "--json", str(tmp_path / "eval.json")]
    assert main(argv) == 0
    log = capsys.readouterr().out
    metrics = _strict((out / "metrics.json").read_text())
    assert _strict((tmp_path / "eval.json").read_text()) == metrics
    m = metrics["metrics"]
    assert math.isfinite(m["mae"]) and m["n"] == 2, m  # the two bright faces
    assert m["mae"] == pytest.approx(abs(5 - math.sqrt(72)) / 2 + abs(60 - math.sqrt(72)) / 2, abs=1e-3)
    errors = metrics["model_errors"]
    assert sorted(e["name"] for e in errors) == ["30/f1.png", "70/f3.png"] and all("NaN" in e["error"] for e in errors)
    assert "2 face(s) without an age" in log and "f1.png" in log, log
    # every face without an age: nothing to score, one line naming the model file
    for k in (0, 2):
        (tmp_path / "faces" / ("5" if k == 0 else "60") / f"f{k}.png").unlink()
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and model.name in err and "NaN" in err, err


def test_a_video_never_tracks_a_face_without_an_age(tmp_path: Path, capsys) -> None:
    model = hostile_model(tmp_path / "m", "nan_all")
    video = tmp_path / "v.avi"
    out = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 15, (320, 240))
    for _ in range(4):
        frame = np.full((240, 320, 3), 120, np.uint8)
        frame[60:210, 80:230] = drawn_face(150, seed=1)
        out.write(frame)
    out.release()
    js = tmp_path / "ages.jsonl"
    assert main(["predict", "--video", str(video), "--model", str(model), "--json", str(js)]) == 0
    said = capsys.readouterr()
    lines = [_strict(line) for line in js.read_text().splitlines()]
    assert len(lines) == 4 and all(x["faces"] == [] for x in lines)  # no track, no age
    errors = [e for x in lines for e in x.get("face_errors", [])]
    assert len(errors) >= 3 and all(len(e["box"]) == 4 and "NaN" in e["error"] for e in errors), lines
    assert f"{len(errors)} face(s) left out" in said.out + said.err


def test_every_json_written_is_strict(tmp_path: Path) -> None:
    """Non-finite numbers become null (JSON's "no value"), wherever they are and whatever their float type."""
    obj = {"a": float("nan"), "b": [np.float32("inf"), 1.5, np.float64("-inf")], "c": {"d": (2, float("inf"))},
           "e": np.float32(2.5), "f": np.int64(3), "g": "NaN"}
    fileio.write_json(tmp_path / "x.json", obj)
    got = _strict((tmp_path / "x.json").read_text())
    assert got == {"a": None, "b": [None, 1.5, None], "c": {"d": [2, None]}, "e": 2.5, "f": 3, "g": "NaN"}
    assert _strict(fileio.json_text([float("nan")])) == [None]


def test_a_golden_check_on_non_finite_outputs_refuses_the_file_in_one_line(tmp_path: Path) -> None:
    model = hostile_model(tmp_path / "m", "nan")
    card = json.loads(card_path(model).read_text())
    ref = json.loads(card_path(bundled_reference()).read_text())["files"]["onnx_fp32"]["golden"]
    card["files"]["onnx_fp32"]["golden"] = ref
    card_path(model).write_text(json.dumps(card))
    for _ in range(2):  # the second time from the cached verdict, which is strict JSON too
        with pytest.raises(EdgeAgeError, match="non-finite") as e:
            load_predictor(model)
        assert e.value.path == str(model)
    _strict((tmp_path / "cache" / "checks.json").read_text())


# ------------------------------------------------------------------------------ 6: one number per face


@pytest.mark.parametrize("kind", ["two", "two_dynamic"])
def test_a_model_with_more_than_one_number_per_face_is_refused_at_load(kind: str, tmp_path: Path, capsys) -> None:
    model = hostile_model(tmp_path / "m", kind)
    with pytest.raises(EdgeAgeError, match="2 numbers per face|4 numbers for 2 faces") as e:
        load_predictor(model, check=False)
    assert e.value.path == str(model)
    faces = [_face(tmp_path / f"f{k}.png", level) for k, level in enumerate((DARK, BRIGHT, 90))]
    for _ in faces:
        _face(tmp_path / "data" / "30" / _.name, 100)
    for argv in (["predict", "--crops", *map(str, faces), "--model", str(model)],
                 ["eval", str(model), "--data", str(tmp_path / "data"), "--split", "all", "--no-progress",
                  "--out", str(tmp_path / "eval")]):
        rc = main(argv)
        out, err = capsys.readouterr()
        lines = [s for s in err.splitlines() if s.strip()]
        assert rc == 2 and len(lines) == 1 and str(model) in lines[0] and "per face" in lines[0], (argv[0], err)
        assert "\t" not in out, out  # not one age printed
