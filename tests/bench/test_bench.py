"""The bench harness: every column, ordered percentiles, right speed-up rows, robust to bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge_age.bench.harness import BenchConfig, add_relative_columns, run_bench
from edge_age.bench.row import Accuracy, BenchRow, Timing
from edge_age.bench.report import TABLE_COLUMNS, write_outputs
from edge_age.bench.stats import summarize, time_calls
from edge_age.cli import main
from edge_age.formats import card_path

from conftest import drawn_face, write_jpg

QUICK = dict(runs=5, warmup=1, min_seconds=0.1, batch_size=4, photos=3)


def test_percentiles_are_ordered() -> None:
    import numpy as np

    s = summarize(np.random.default_rng(0).exponential(3.0, 500))
    assert s["min_ms"] <= s["p50_ms"] <= s["p90_ms"] <= s["p99_ms"]
    assert len(time_calls(lambda: None, warmup=2, runs=7, min_seconds=0.0)) == 7


def _row(model: str, fmt: str, threads: int, p50: float, mae: float | None = None) -> BenchRow:
    timing = Timing("litert", 0.1, 1.0, 5, p50, 0.1, p50, p50, p50, p50, 1.0, 4, 100.0, False)
    accuracy = None if mae is None else Accuracy(mae, mae, 0.5, 10, {}, {})
    return BenchRow(file=f"{model}{fmt}", name=f"{model}{fmt}", threads=threads, format=fmt, int8="int8" in fmt,
                    model=model, timing=timing, accuracy=accuracy)


def test_speedups_use_the_fp32_resnet_rows_of_same_runtime_and_threads() -> None:
    rows = [
        _row("simplecnn", "tflite_int8", 1, 2.0, mae=6.1), _row("simplecnn", "tflite_fp32", 1, 8.0, mae=6.0),
        _row("resnet18", "tflite_fp32", 1, 20.0), _row("resnet50", "tflite_fp32", 1, 50.0),
        _row("resnet18", "tflite_fp32", 2, 11.0), _row("resnet18", "onnx_fp32", 1, 9.0),
        _row("simplecnn", "onnx_int8", 1, 3.0), _row("mobilenetv2_age", "tflite_int8", 1, 0.4),
    ]
    add_relative_columns(rows)
    out = [r.to_dict() for r in rows]
    assert out[7]["speedup_vs_simplecnn_int8"] == pytest.approx(5.0)  # vs the int8 SimpleCNN TFLite row
    assert out[1]["speedup_vs_simplecnn_int8"] == pytest.approx(0.25)
    assert out[0]["speedup_vs_resnet18"] == pytest.approx(10.0)
    assert out[0]["speedup_vs_resnet50"] == pytest.approx(25.0)
    assert out[0]["mae_delta_vs_fp32"] == pytest.approx(0.1)
    assert out[6]["speedup_vs_resnet18"] == pytest.approx(3.0)  # onnx row vs the onnx ResNet18
    assert out[6]["speedup_vs_resnet50"] is None  # no onnx ResNet50 in this run: no made-up ratio
    assert out[0]["p50_ms"] == 2.0 and out[0]["mae"] == 6.1 and "error" not in out[0]


def _photos(root: Path) -> Path:
    """Three labelled photos, in this order: a colour gradient with no face, then two drawn faces that the
    detectors find (ages 12, 40 and 50: the bench's under-18 gate has both sides). The bench places each in a
    640x480 scene over the tiles of the photo read before it (its own for the first: edge_age.data.wild), so the
    faceless scene's background holds no face either."""
    import numpy as np

    yy, xx = np.mgrid[0:128, 0:128]
    gradient = np.stack([60 + xx, 90 + yy // 2, 140 + 0 * xx], -1).astype(np.uint8)
    rows = ["file,age"]
    for name, img, age in (("a_no_face.jpg", gradient, 12), ("b_face.jpg", drawn_face(128, 1), 40),
                           ("c_face.jpg", drawn_face(128, 2), 50)):
        write_jpg(root / name, img)
        rows.append(f"{name},{age}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root / "labels.csv"


def test_bench_produces_every_column(exported: dict, tmp_path: Path) -> None:
    files = tuple(str(exported["out"] / f"simplecnn{s}") for s in ("_int8.onnx", "_int8.tflite", "_fp32.onnx"))
    result = run_bench(BenchConfig(paths=files, data=str(_photos(tmp_path / "photos")), split="all", **QUICK),
                       log=lambda s: None)
    assert result["machine"]["cores"] and result["peak"][1]["int8_gmacs"] > 0
    assert len(result["rows"]) == 3
    # detect -> frame -> crop on a scene made from each photo, once for the card's detector, size and threads
    (key, photo), = result["photo_path"].items()
    spec = exported["card"].preprocess
    assert key == f"{spec.framing.detector} {spec.size}px {spec.interpolation}, 1 thr"
    assert photo["photos"] == 3 and photo["found"] == 2  # the two faces are found, nothing in the gradient
    assert 0 < photo["p50_ms"] <= photo["p90_ms"] and 0 < photo["no_face_p50_ms"] <= photo["no_face_p90_ms"]
    for r in result["rows"]:  # photo -> age: the path before the model plus this file's own model time
        assert r["photo_age_p50_ms"] == pytest.approx(photo["p50_ms"] + r["p50_ms"])
        assert r["photo_found"] == "2/3" and r["no_face_p50_ms"] == photo["no_face_p50_ms"]
    for r in result["rows"]:
        assert "error" not in r, r
        for key, _, _ in TABLE_COLUMNS:
            if not key.startswith("speedup"):
                assert r.get(key) is not None, (key, r["name"])
        assert r["min_ms"] <= r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"]
        assert r["runs"] >= 5 and r["params"] > 8_000_000 and r["macs"] > 200_000_000
        assert r["torch_loaded"] is False  # the worker ran the file with runtime-only code
    by = {r["format"]: r for r in result["rows"]}
    assert by["onnx_int8"]["mae_delta_vs_fp32"] == pytest.approx(by["onnx_int8"]["mae"] - by["onnx_fp32"]["mae"])
    out = {k: tmp_path / f"b.{k}" for k in ("json", "md", "csv", "png")}
    write_outputs(result, out["json"], out["md"], out["csv"], out["png"])
    assert json.loads(out["json"].read_text())["rows"][0]["p50_ms"] > 0
    assert "| simplecnn | onnx_int8 |" in out["md"].read_text()
    assert out["csv"].read_text().startswith("file,") and out["png"].stat().st_size > 1000


def test_missing_and_corrupt_files_leave_the_rest_running(exported: dict, tmp_path: Path, capsys) -> None:
    corrupt = tmp_path / "broken_fp32.onnx"
    corrupt.write_bytes(b"\x08\x07garbage")
    good = exported["out"] / "simplecnn_int8.tflite"
    bad_card = tmp_path / "cardless" / "simplecnn_int8.onnx"  # a good model file beside a broken card
    bad_card.parent.mkdir()
    bad_card.write_bytes((exported["out"] / "simplecnn_int8.onnx").read_bytes())
    card_path(bad_card).write_text("{not json")
    rc = main(["bench", str(good), str(corrupt), str(tmp_path / "missing_int8.tflite"), str(bad_card), "--no-peak",
               "--runs", "3",
               "--warmup", "1", "--min-seconds", "0.1", "--batch", "2", "--json", str(tmp_path / "r.json")])
    assert rc == 1
    rows = json.loads((tmp_path / "r.json").read_text())["rows"]
    assert "p50_ms" in rows[0] and "error" not in rows[0]
    assert "not a loadable ONNX model" in rows[1]["error"] and "broken_fp32.onnx" in rows[1]["error"]
    assert "no such model file" in rows[2]["error"]
    assert "model card is not valid" in rows[3]["error"] and card_path(bad_card).name in rows[3]["error"]
    assert "error:" in capsys.readouterr().out


@pytest.mark.slow  # exports two untrained ResNet18 files (~45 MB each) and benches them: 10-20 s on 2 cores
def test_untrained_baselines_are_built_and_marked(tmp_path: Path) -> None:
    from edge_age.export.baselines import ensure_baselines

    files = ensure_baselines(tmp_path, archs=("resnet18",))
    assert [f.name for f in files] == ["resnet18_untrained_fp32.onnx", "resnet18_untrained_fp32.tflite"]
    result = run_bench(BenchConfig(paths=tuple(map(str, files)), peak=False, **QUICK), log=lambda s: None)
    r = result["rows"][0]
    assert r["model"] == "resnet18" and r["trained"] is False and r.get("mae") is None
    # The full network, not a constant-folded remnant (zero-init residual branches fold away).
    assert r["params"] > 11_000_000 and r["size_mb"] > 40
    tfl = run_bench(BenchConfig(paths=(str(files[1]),), peak=False, **QUICK), log=lambda s: None)["rows"][0]
    assert tfl["size_mb"] > 40
    assert r["speedup_vs_resnet18"] == pytest.approx(1.0)


def _matmul_model(int8: bool) -> bytes:
    """The peak measurement's graph, as built with ``onnx``: square, any size (dims named n)."""
    from onnx import TensorProto, helper

    kinds = (TensorProto.UINT8, TensorProto.INT8, TensorProto.INT32) if int8 else (TensorProto.FLOAT,) * 3
    a, b, y = (helper.make_tensor_value_info(name, kind, ["n", "n"]) for name, kind in zip("aby", kinds))
    node = helper.make_node("MatMulInteger" if int8 else "MatMul", ["a", "b"], ["y"])
    graph = helper.make_graph([node], "peak", [a, b], [y])
    # IR 9 (ONNX 1.14+) is read by every onnxruntime a device is likely to have.
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=9).SerializeToString()


@pytest.mark.parametrize("int8", [False, True])
def test_the_bundled_matmul_graphs_are_what_onnx_builds(int8: bool) -> None:
    from edge_age.bench.peak import matmul_model_path

    assert matmul_model_path(int8).read_bytes() == _matmul_model(int8)
