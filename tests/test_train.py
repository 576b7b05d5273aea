"""Training end to end: files written, resume equals an uninterrupted run, real faces beat the mean."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from edge_age.checkpoint import load_checkpoint
from edge_age.data.dataset import DataConfig
from edge_age.errors import EdgeAgeError
from edge_age import fileio
from edge_age.data.preprocess import PreprocessSpec
from edge_age.tensors import augment, recalibrate_bn
from edge_age.hardware import choose_precision
from edge_age.train import TrainConfig, train


def _cfg(out: Path, **kw) -> TrainConfig:
    base = dict(model="simplecnn", out=str(out), epochs=2, batch_size=16, lr=5e-4, warmup_epochs=0.2,
                patience=5, seed=3, threads=1)
    base.update(kw)
    return TrainConfig(**base)


def _history(out: Path) -> list[dict[str, str]]:
    with open(out / "metrics.csv") as f:
        return list(csv.DictReader(f))


def test_train_writes_run_files(utk_dir: Path, cache_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    summary = train(_cfg(out), DataConfig(str(utk_dir)), progress=False, cache_dir=cache_dir, log=lambda s: None)
    for f in ("best.pt", "last.pt", "metrics.csv", "loss.png", "summary.json"):
        assert (out / f).is_file(), f
    assert len(_history(out)) == 2 and summary["epochs_run"] == 2
    ck = load_checkpoint(out / "best.pt")
    assert ck["model"] == "simplecnn" and ck["preprocess"]["size"] == 128
    assert ck["data"]["split"]["seed"] == 0 and sum(ck["split_counts"].values()) == 60


def test_resume_equals_uninterrupted_run(utk_dir: Path, cache_dir: Path, tmp_path: Path) -> None:
    data = DataConfig(str(utk_dir))
    quiet = dict(progress=False, cache_dir=cache_dir, log=lambda s: None)
    train(_cfg(tmp_path / "straight", epochs=3), data, **quiet)

    def interrupt_after_epoch_2(msg: str) -> None:
        if msg.startswith("epoch 2/3"):
            raise KeyboardInterrupt  # as Ctrl-C right after epoch 2's files were written

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tmp_path / "resumed", epochs=3), data, progress=False, cache_dir=cache_dir,
              log=interrupt_after_epoch_2)
    assert len(_history(tmp_path / "resumed")) == 2
    with pytest.raises(EdgeAgeError, match="--resume"):
        train(_cfg(tmp_path / "resumed", epochs=3), data, **quiet)
    train(_cfg(tmp_path / "resumed", epochs=3), data, resume=True, **quiet)
    a, b = _history(tmp_path / "straight"), _history(tmp_path / "resumed")
    assert len(a) == len(b) == 3
    for ra, rb in zip(a, b):
        assert float(ra["val_mae"]) == pytest.approx(float(rb["val_mae"]), abs=1e-3)
        assert float(ra["train_loss"]) == pytest.approx(float(rb["train_loss"]), abs=1e-3)
    wa = load_checkpoint(tmp_path / "straight" / "last.pt")["state_dict"]
    wb = load_checkpoint(tmp_path / "resumed" / "last.pt")["state_dict"]
    assert all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa)


def test_metrics_csv_takes_a_column_added_on_resume(tmp_path: Path) -> None:
    # A run started before the ``images`` column existed crashed on resume when writing metrics.csv.
    fileio.write_csv(tmp_path / "m.csv", [{"epoch": 1, "val_mae": 7.0}, {"epoch": 2, "images": 64, "val_mae": 6.0}])
    with open(tmp_path / "m.csv") as f:
        rows = list(csv.DictReader(f))
    assert rows == [{"epoch": "1", "val_mae": "7.0", "images": ""}, {"epoch": "2", "val_mae": "6.0", "images": "64"}]


def test_recalibrate_bn_sets_clean_statistics_and_keeps_weights() -> None:
    import numpy as np

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Dropout(0.5),
                                torch.nn.Flatten(), torch.nn.LazyLinear(1))
    spec = PreprocessSpec(size=8)
    faces = np.random.default_rng(0).integers(0, 256, (40, 8, 8, 3), dtype=np.uint8)
    model(torch.zeros(2, 3, 8, 8))  # materialise the lazy layer
    weights = {k: v.clone() for k, v in model.state_dict().items() if "running" not in k and "num_batches" not in k}
    bn = model[1]
    bn.running_mean.fill_(100.0)
    model.eval()
    assert recalibrate_bn(model, faces, spec, batch=20)  # equal batches: mean of batch means = mean
    from edge_age.tensors import to_input

    with torch.no_grad():
        pre = model[0](to_input(faces, spec, None))
    torch.testing.assert_close(bn.running_mean, pre.mean(dim=(0, 2, 3)), atol=1e-4, rtol=1e-4)
    assert bn.momentum == 0.1 and not model.training and not bn.training
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in weights.items())
    assert not recalibrate_bn(torch.nn.Linear(2, 1), faces, spec)


def test_augment_is_seeded_and_bounded() -> None:
    x = torch.rand(4, 3, 32, 32) * 255
    a = augment(x.clone(), torch.Generator().manual_seed(1))
    b = augment(x.clone(), torch.Generator().manual_seed(1))
    torch.testing.assert_close(a, b)
    assert a.min() >= 0 and a.max() <= 255 and not torch.equal(a, x)


def test_precision_choice() -> None:
    cpu = torch.device("cpu")
    assert choose_precision("fp32", cpu) == "fp32" and choose_precision("bf16", cpu) == "bf16"
    # auto: bf16 exactly where this CPU runs it natively (the machines differ; either way is checked)
    native = torch.cpu._is_amx_tile_supported() or torch.cpu._is_avx512_bf16_supported()
    assert choose_precision("auto", cpu) == ("bf16" if native else "fp32")
    with pytest.raises(EdgeAgeError):
        choose_precision("fp8", cpu)


@pytest.mark.slow
@pytest.mark.realdata
def test_two_epochs_on_300_real_faces_beat_the_mean(real_data: Path, tmp_path: Path) -> None:
    # Small batches, gentle LR, no augmentation or dropout: the settings that learn in 2 x 26 steps
    # (with the defaults, 2 epochs of 200 faces stay at the mean; measured over seeds 0-2).
    out = tmp_path / "real"
    summary = train(
        _cfg(out, epochs=2, batch_size=8, lr=3e-4, augment=False, threads=2, seed=1, model_kwargs={"dropout": 0.0}),
        DataConfig(str(real_data), limit=300),
        progress=False, cache_dir=tmp_path / "cache", log=print,
    )
    assert summary["best_val_mae"] < summary["baseline_val_mae"], summary


def test_framing_jitter_zooms_half_the_batch_as_measured() -> None:
    """With a measured crop/chip scale of 2 (the crop twice the chip), the framed half of the batch shows
    the chip at half its size: a centre square covering a quarter of the image shrinks to a sixteenth."""
    x = torch.zeros(64, 3, 32, 32)
    x[:, :, 8:24, 8:24] = 255.0
    jitter = {"scale": [2.0, 2.0], "shift_x": [0.0, 0.0], "shift_y": [0.0, 0.0], "angle": [0.0, 0.0]}
    area = (augment(x.clone(), torch.Generator().manual_seed(0), jitter).mean(1) > 127).float().mean((1, 2))
    framed = (area - 1 / 16).abs() < 0.02
    assert 16 <= int(framed.sum()) <= 48  # about half of 64
    assert ((area[~framed] - 1 / 4).abs() < 0.08).all()  # the rest: the mild default affine
    plain = (augment(x.clone(), torch.Generator().manual_seed(0)).mean(1) > 127).float().mean((1, 2))
    assert ((plain - 1 / 4).abs() < 0.08).all()
