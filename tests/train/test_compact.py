"""The compact model end to end at its own input size, the DLDL loss, and the age-band/age-gate metrics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edge_age.models.checkpoint import load_checkpoint
from edge_age.data.dataset import DataConfig
from edge_age.data.preprocess import PreprocessSpec
from edge_age.errors import EdgeAgeError
from edge_age.eval.metrics import age_metrics
from edge_age.models import create_model, default_input_size, list_models
from edge_age.train.losses import DLDLLoss
from edge_age.train.loop import TrainConfig, train

from conftest import make_utk


def test_metrics_carry_bands_and_gates() -> None:
    y = np.array([5, 15, 20, 30, 40, 50, 70], dtype=float)
    m = age_metrics(y, y + np.arange(7))
    assert list(m["mae_per_band"]) == ["0-12", "13-17", "18-24", "25-34", "35-44", "45-59", "60+"]
    assert m["mae_per_band"]["60+"] == {"n": 1, "mae": 6.0, "bias": 6.0}
    m = age_metrics(y, y - np.arange(7))  # bias keeps the sign that MAE drops
    assert m["mae_per_band"]["60+"] == {"n": 1, "mae": 6.0, "bias": -6.0}
    assert m["gates"]["under_18"]["tpr"] == 1.0 and m["gates"]["under_25"]["fpr"] == 0.0


def test_dldl_loss_prefers_the_true_age_and_needs_a_distribution_head() -> None:
    with pytest.raises(EdgeAgeError, match="distribution head"):
        DLDLLoss(create_model("simplecnn"))
    model = create_model("mobilenetv2_age", head="distribution").eval()
    loss = DLDLLoss(model)
    head = [m for m in model.modules() if m.__class__.__name__ == "AgeExpectation"][0]
    y = torch.tensor([30.0])
    near = -((head.bins - 30.0) ** 2)[None] / 8  # logits of a Gaussian at 30
    far = -((head.bins - 60.0) ** 2)[None] / 8
    values = []
    for logits in (near, far):
        loss.logits = logits
        values.append(loss(head(logits).reshape(-1), y).item())
    assert values[0] < values[1] - 10


@pytest.mark.slow
def test_compact_model_trains_at_64px_with_dldl_and_exports(tmp_path: Path) -> None:
    from edge_age.export.exporter import ExportConfig, export_checkpoint

    data = make_utk(tmp_path / "UTKFace", n_per_age=4)
    out = tmp_path / "run"
    # fp32 on every CPU (auto picks bf16 where it is native). Four steps an epoch are too few for BatchNorm's
    # running statistics to follow the weights, so each epoch recomputes them on the train faces (--bn-recalib).
    cfg = TrainConfig(model="mobilenetv2_age", out=str(out), epochs=8, batch_size=16, lr=2e-3, loss="dldl", threads=1,
                      precision="fp32", bn_recalib=64, model_kwargs={"head": "distribution", "input_size": 64})
    summary = train(cfg, DataConfig(str(data)), PreprocessSpec(size=64), progress=False, cache_dir=tmp_path / "c",
                    log=lambda s: None)
    ck = load_checkpoint(out / "best.pt")
    assert ck["preprocess"]["size"] == 64 and ck["model_kwargs"]["head"] == "distribution"
    # It learns the age the generated faces carry (brightness, stripes): predicting the mean age scores the
    # baseline, and six training seeds reached 0.30-0.39 of it on x86-64 (a model that learned nothing: 1.0).
    assert summary["precision"] == "fp32"
    assert summary["best_val_mae"] < 0.6 * summary["baseline_val_mae"], summary
    card = export_checkpoint(ExportConfig(str(out / "best.pt"), out=str(tmp_path / "export"), int8=True,
                                          calib_size=40, allow_degraded=True),
                             command="pytest", progress=False, cache_dir=tmp_path / "c", log=lambda s: None)
    assert card.files["tflite_int8"]["input"]["shape"] == [1, 64, 64, 3]
    assert card.files["onnx_fp32"]["parity"]["max_abs_diff"] < 0.05
    assert (tmp_path / "export" / "mobilenetv2_age_int8.tflite").stat().st_size < 1_000_000
    # The int8 graph is what XNNPACK runs fast: ReLU6 fused into the convs, AVERAGE_POOL_2D not MEAN
    # (a MEAN before the FC gave one constant age for every face).
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(str(tmp_path / "export" / "mobilenetv2_age_int8.tflite"))
    ops = {d["op_name"] for d in it._get_ops_details()}
    assert "AVERAGE_POOL_2D" in ops and not ops & {"MEAN", "RELU6", "RELU"}

    # Quantization-aware fine-tuning writes the same kind of graph, re-run and proven like the rest.
    qat = export_checkpoint(ExportConfig(str(out / "best.pt"), out=str(tmp_path / "qat"), formats=("tflite",),
                                         int8=True, calib_size=40, qat_epochs=1.0, allow_degraded=True),
                            command="pytest", progress=False, cache_dir=tmp_path / "c", log=lambda s: None)
    entry = qat.files["tflite_int8"]
    assert qat.calibration["ranges"]["tflite_int8"].startswith("QAT: ")
    assert entry["input"]["dtype"] == "int8" and entry["parity"]["pred_std"] > 0
    it = Interpreter(str(tmp_path / "qat" / "mobilenetv2_age_int8.tflite"))
    ops = {d["op_name"] for d in it._get_ops_details()}
    assert "AVERAGE_POOL_2D" in ops and not ops & {"MEAN", "RELU6", "RELU"}


@pytest.mark.parametrize("name", list_models())
def test_fold_batchnorm_keeps_the_function(name: str) -> None:
    from edge_age.export.qat import fold_batchnorm

    torch.manual_seed(0)
    model = create_model(name)
    size = default_input_size(name)
    # Faces differ in overall brightness too: noise alone averages out in the global pooling.
    x = torch.randn(4, 3, size, size) + torch.linspace(-1.5, 1.5, 4).view(4, 1, 1, 1)
    for m in model.modules():  # non-trivial affine terms and heads, so a wrong fold would show
        if isinstance(m, torch.nn.BatchNorm2d):
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
            m.momentum = None  # running statistics = these inputs' (as after training: well-scaled activations)
        if isinstance(m, torch.nn.Linear):  # heads start near-constant (zero or tiny weights)
            torch.nn.init.normal_(m.weight, std=0.05)
    with torch.no_grad():
        model.train()(x)
    model.eval()
    folded = fold_batchnorm(model)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    with torch.no_grad():
        want, got = model(x), folded(x)
    assert want.std() > 1e-3  # the ages differ between inputs: the comparison below means something
    torch.testing.assert_close(got, want, atol=1e-3 * float(want.abs().max()), rtol=1e-4)


def test_fold_batchnorm_refuses_a_batchnorm_that_follows_no_conv() -> None:
    from edge_age.export.qat import fold_batchnorm

    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.BatchNorm2d(4))
    with pytest.raises(EdgeAgeError, match="BatchNorm"):
        fold_batchnorm(model)
