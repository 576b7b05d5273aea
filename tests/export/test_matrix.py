"""Every registered model x every row of the formats table (as timm's tests iterate the registry).

Stand-in weights: four optimiser steps and BatchNorm statistics recomputed on the generated faces, so
activations have real ranges and the ages vary with the face, with next to no training time. (One step
left the whole-trunk ``mobilenetv2`` predicting within 2 years for every face, a spread so small that its
int8 TFLite file's 0.9-year rounding read as a failure; trained, that file keeps 1.009x its fp32 val MAE.) A new builder
or a new FORMATS row is picked up here with no edit to this file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edge_age.formats import FORMATS
from edge_age.models import default_input_size, list_models
from conftest import make_utk

# int8 against the float model: mean |diff| within this share of the float predictions' spread.
# A wrong input scale, a dropped normalisation or a constant output reads as a share near 1 or above.
INT8_SHARE_OF_SPREAD = 0.35
FP32_MAX_DIFF = 0.05  # years: the float files compute the same graph

pytestmark = pytest.mark.slow  # an export of every model: about 1.5 minutes on 2 cores


def _stand_in_export(root: Path, name: str, **export_options) -> dict:
    """Stand-in weights for ``name`` (see the module docstring), exported to every row of the formats table."""
    from edge_age.data.dataset import DataConfig
    from edge_age.data.preprocess import PreprocessSpec
    from edge_age.export.exporter import ExportConfig, export_checkpoint
    from edge_age.train.loop import TrainConfig, train

    data = make_utk(root / "UTKFace", n_per_age=2)
    size = default_input_size(name)
    cfg = TrainConfig(model=name, out=str(root / "run"), epochs=1, max_steps=4, batch_size=8, threads=1,
                      precision="fp32", bn_recalib=32, model_kwargs={"input_size": size})
    train(cfg, DataConfig(str(data)), PreprocessSpec(size=size), progress=False, cache_dir=root / "cache",
          log=lambda s: None)
    out = root / "export"
    card = export_checkpoint(ExportConfig(str(root / "run" / "best.pt"), out=str(out), int8=True, calib_size=16,
                                          allow_degraded=True, **export_options),
                             command="pytest", progress=False, cache_dir=root / "cache", log=lambda s: None)
    return {"name": name, "size": size, "out": out, "card": card}


@pytest.fixture(scope="module", params=list_models())
def model_export(request, tmp_path_factory) -> dict:
    return _stand_in_export(tmp_path_factory.mktemp(f"matrix_{request.param}"), request.param)


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
def test_every_model_exports_to_every_format_and_agrees_with_pytorch(model_export: dict, fmt) -> None:
    card, name = model_export["card"], model_export["name"]
    entry = card.files[fmt.name]
    path = Path(model_export["out"]) / entry["file"]
    assert path.name == f"{name}{fmt.suffix}" and path.stat().st_size == entry["bytes"]
    p = entry["parity"]
    spread = card.checkpoint["pred_std"]
    assert spread > 0.05, f"stand-in {name} predicts one age for every face: the matrix would prove nothing"
    if fmt.int8:
        assert p["mean_abs_diff"] <= INT8_SHARE_OF_SPREAD * spread, (name, fmt.name, p, spread)
    else:
        assert p["max_abs_diff"] <= FP32_MAX_DIFF, (name, fmt.name, p)


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
def test_every_exported_file_takes_pixels_at_the_models_input_size(model_export: dict, fmt) -> None:
    from edge_age.runtime import load_predictor

    size = model_export["size"]
    entry = model_export["card"].files[fmt.name]
    assert model_export["card"].preprocess.input_pixels is True
    shape = entry["input"]["shape"]
    assert shape[1:] == ([size, size, 3] if fmt.layout == "NHWC" else [3, size, size]), shape
    if fmt.name == "tflite_int8":  # pixel - 128, exactly
        assert (entry["input"]["scale"], entry["input"]["zero_point"]) == (1.0, -128)
    predictor = load_predictor(Path(model_export["out"]) / entry["file"])
    faces = np.random.default_rng(0).integers(0, 256, (2, size, size, 3), dtype=np.uint8)
    ages = np.asarray(predictor.predict(faces)).reshape(-1)
    assert ages.shape == (2,) and np.isfinite(ages).all()


@pytest.fixture(scope="module")
def flip_export(tmp_path_factory) -> dict:
    """The compact model exported with --flip-average (each file averages a face and its mirror image), with
    QAT as the measured candidate was made: the flip, the batch of two and the mean are traced and fine-tuned too."""
    return _stand_in_export(tmp_path_factory.mktemp("flip"), "mobilenetv2_age", flip_average=True, qat_epochs=1.0)


@pytest.mark.parametrize("fmt", FORMATS, ids=[f.name for f in FORMATS])
def test_flip_average_files_give_a_face_and_its_mirror_image_one_age(flip_export: dict, fmt) -> None:
    """Inside each file, so any runtime gets it: the estimate cannot depend on which way the face looks, the
    float files match the flip-averaged PyTorch model, the int8 TFLite input is still pixel - 128 and the
    average stays float (quantized, its range stopped short of the oldest ages), and the normalisation is
    still the first op of the ONNX files (it stays float in their int8 version)."""
    from edge_age.runtime import load_predictor

    card, size = flip_export["card"], flip_export["size"]
    entry = card.files[fmt.name]
    assert card.flip_average is True
    if fmt.int8:
        assert entry["parity"]["mean_abs_diff"] <= INT8_SHARE_OF_SPREAD * card.checkpoint["pred_std"], entry["parity"]
    else:
        assert entry["parity"]["max_abs_diff"] <= FP32_MAX_DIFF, entry["parity"]
    path = Path(flip_export["out"]) / entry["file"]
    if fmt.name == "tflite_int8":
        assert (entry["input"]["scale"], entry["input"]["zero_point"]) == (1.0, -128)
        assert entry["output"]["dtype"] == "float32", entry["output"]
    if fmt.family == "onnx":
        import onnx

        from edge_age.export.onnx_export import _normalize_node

        assert _normalize_node(onnx.load(str(path))) is not None
    predictor = load_predictor(path)
    faces = np.random.default_rng(1).integers(0, 256, (16, size, size, 3), dtype=np.uint8)
    ages = np.asarray(predictor.predict(faces)).reshape(-1)
    mirrored = np.asarray(predictor.predict(np.ascontiguousarray(faces[:, :, ::-1]))).reshape(-1)
    assert len(np.unique(ages)) > 1, ages  # not one constant age, which would pass the next line trivially
    np.testing.assert_allclose(mirrored, ages, atol=1e-3)
