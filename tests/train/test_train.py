"""Training end to end: files written, resume equals an uninterrupted run, real faces beat the mean."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_age.models.checkpoint import load_checkpoint
from edge_age.data.dataset import DataConfig
from edge_age.errors import EdgeAgeError
from edge_age import fileio
from edge_age.data.preprocess import PreprocessSpec
from edge_age.train.tensors import DEGRADATIONS, augment, degrade, recalibrate_bn, to_input
from edge_age.train.hardware import choose_precision
from edge_age.train import loop as train_module
from edge_age.train.loop import TrainConfig, train


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


def test_init_seed_equal_to_seed_is_the_same_run_and_another_differs(utk_dir: Path, cache_dir: Path,
                                                                      tmp_path: Path) -> None:
    data = DataConfig(str(utk_dir))
    quiet = dict(progress=False, cache_dir=cache_dir, log=lambda s: None)
    runs = {name: _cfg(tmp_path / name, epochs=1, max_steps=2, **kw)
            for name, kw in (("plain", {}), ("same", {"init_seed": 3}), ("other", {"init_seed": 4}))}
    weights = {}
    for name, cfg in runs.items():
        train(cfg, data, **quiet)
        ck = load_checkpoint(tmp_path / name / "last.pt")
        weights[name] = ck["state_dict"]
    assert all(torch.equal(v, weights["same"][k]) for k, v in weights["plain"].items())
    assert not all(torch.equal(v, weights["other"][k]) for k, v in weights["plain"].items())


# With --ema a model with BatchNorm: its averaged statistics must resume too.
_EMA_RUN = dict(ema=0.9, model="mobilenetv2_age", model_kwargs={"input_size": 32}, precision="fp32")


@pytest.mark.parametrize("kw", [{}, _EMA_RUN], ids=["plain", "ema"])
def test_resume_equals_uninterrupted_run(kw: dict, utk_dir: Path, cache_dir: Path, tmp_path: Path) -> None:
    data = DataConfig(str(utk_dir))
    spec = PreprocessSpec(size=32) if kw else PreprocessSpec()
    quiet = dict(progress=False, cache_dir=cache_dir, log=lambda s: None)
    ema = kw.get("ema", 0.0)
    train(_cfg(tmp_path / "straight", epochs=3, **kw), data, spec, **quiet)

    def interrupt_after_epoch_2(msg: str) -> None:
        if msg.startswith("epoch 2/3"):
            raise KeyboardInterrupt  # as Ctrl-C right after epoch 2's files were written

    with pytest.raises(KeyboardInterrupt):
        train(_cfg(tmp_path / "resumed", epochs=3, **kw), data, spec, progress=False, cache_dir=cache_dir,
              log=interrupt_after_epoch_2)
    assert len(_history(tmp_path / "resumed")) == 2
    with pytest.raises(EdgeAgeError, match="--resume"):
        train(_cfg(tmp_path / "resumed", epochs=3, **kw), data, spec, **quiet)
    train(_cfg(tmp_path / "resumed", epochs=3, **kw), data, spec, resume=True, **quiet)
    a, b = _history(tmp_path / "straight"), _history(tmp_path / "resumed")
    assert len(a) == len(b) == 3
    for ra, rb in zip(a, b):
        assert float(ra["val_mae"]) == pytest.approx(float(rb["val_mae"]), abs=1e-3)
        assert float(ra["train_loss"]) == pytest.approx(float(rb["train_loss"]), abs=1e-3)
    la, lb = (load_checkpoint(tmp_path / run / "last.pt") for run in ("straight", "resumed"))
    for key in ("state_dict", "ema") if ema else ("state_dict",):  # the average resumes too
        wa, wb = la[key], lb[key]
        assert all(torch.allclose(wa[k].float(), wb[k].float(), atol=1e-5) for k in wa)
    if ema:
        assert any("running_var" in k for k in la["ema"])


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
    from edge_age.train.tensors import to_input

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


def _faces(n: int = 64, side: int = 32) -> torch.Tensor:
    """Smooth, colourful stand-in faces: gradients and a bright square, so every degradation shows."""
    g = torch.linspace(0, 1, side)
    x = torch.stack([g[None, :].expand(side, side), g[:, None].expand(side, side), 1 - g[None, :].expand(side, side)])
    x = (x[None].repeat(n, 1, 1, 1) * 140 + 60).clone()
    x[:, :, side // 4 : side // 2, side // 4 : side // 2] = 240.0
    return x


def _kinds(n: int, p: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The hit mask and kind per face that :func:`degrade` draws first from a generator seeded ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    hit = torch.rand(n, generator=gen) < p
    return hit, torch.randint(len(DEGRADATIONS), (n,), generator=gen)


def test_degrade_changes_each_hit_face_as_its_kind_says_and_leaves_the_rest() -> None:
    x = _faces(200)
    y = degrade(x.clone(), torch.Generator().manual_seed(5), 0.6)
    hit, kind = _kinds(200, 0.6, 5)
    torch.testing.assert_close(y[~hit], x[~hit])  # faces not hit are untouched
    assert 0.45 < hit.float().mean() < 0.75 and set(kind[hit].tolist()) == set(range(len(DEGRADATIONS)))
    assert y.min() >= 0 and y.max() <= 255
    for k, name in enumerate(DEGRADATIONS):
        rows = hit & (kind == k)
        a, b = x[rows], y[rows]
        assert (a - b).abs().amax(dim=(1, 2, 3)).min() > 1.0, name  # every hit face changed
        if name == "gray":
            torch.testing.assert_close(b, b[:, :1].expand_as(b))  # channels equal
            torch.testing.assert_close(b.mean((1, 2, 3)), a.mean((1, 2, 3)))  # brightness kept
        elif name == "lowres":  # fewer sharp edges: the square's border is smeared
            sharp = lambda t: (t[..., 1:] - t[..., :-1]).abs().amax(dim=(1, 2, 3))
            assert (sharp(b) < 0.9 * sharp(a)).all()
        elif name == "noise":  # zero-mean grain of 2-16 grey levels, within the clamp
            d = (b - a)[..., 18:, :]  # rows below the bright square, where the clamp never cuts
            assert (d.std(dim=(1, 2, 3)) > 1.5).all() and (d.std(dim=(1, 2, 3)) < 17).all()
            assert d.mean().abs() < 1.0
        elif name == "gamma":  # a monotone tone curve: the pixel order of each face is kept
            order_a = a[0].flatten().argsort(stable=True)
            assert (b[0].flatten()[order_a].diff() >= -1e-3).all()
        elif name == "jpeg":  # lossy but the same picture
            assert ((b - a).abs().mean(dim=(1, 2, 3)) < 20).all()


def test_degrade_treats_a_face_alike_in_rgb_and_bgr_order() -> None:
    """JPEG's colour transform depends on the channel order: the same picture handed over as RGB or as
    BGR must come back the same (grain aside: its colour part is drawn per channel position)."""
    x = _faces(60)
    a = degrade(x.clone(), torch.Generator().manual_seed(4), 1.0, rgb=True)
    b = degrade(x.flip(1).clone(), torch.Generator().manual_seed(4), 1.0, rgb=False).flip(1)
    _, kind = _kinds(60, 1.0, 4)
    same = kind != DEGRADATIONS.index("noise")
    assert (kind == DEGRADATIONS.index("jpeg")).sum() >= 5
    torch.testing.assert_close(a[same], b[same])
    wrong = degrade(x.clone(), torch.Generator().manual_seed(4), 1.0, rgb=False)
    jpeg = kind == DEGRADATIONS.index("jpeg")
    assert not torch.allclose(a[jpeg], wrong[jpeg])  # the order is used, not ignored


def test_degrade_is_seeded_and_off_at_zero() -> None:
    x = _faces(32)
    a = augment(x.clone(), torch.Generator().manual_seed(2), None, 0.5)
    b = augment(x.clone(), torch.Generator().manual_seed(2), None, 0.5)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(degrade(x.clone(), torch.Generator().manual_seed(2), 0.0), x)


def test_augment_without_degradations_never_draws_for_them(monkeypatch) -> None:
    """At p = 0 the degradation step is skipped, so it draws nothing from the generator and runs saved before
    --degrade replay the batches they trained on."""
    import edge_age.train.tensors as tensors

    def refuse(*a, **k):
        raise AssertionError("degrade called at p = 0")

    monkeypatch.setattr(tensors, "degrade", refuse)
    gen = torch.Generator().manual_seed(2)
    augment(_faces(8), gen, None, 0.0)
    with pytest.raises(AssertionError, match="p = 0"):
        augment(_faces(8), torch.Generator().manual_seed(2), None, 0.1)


@pytest.mark.parametrize("seed", range(6))
def test_edge_cut_repeats_the_line_beyond_a_side_and_leaves_the_rest(seed: int, monkeypatch) -> None:
    """Untilted, the cut must look like a photo's edge in an upright crop: a strip at one side whose
    columns (or rows) all repeat the image at the line (not its outermost pixels), as deep as EDGE_REACH
    allows, and every other pixel untouched. On ramps (x + 5 y, a random offset per face and channel) the
    value at the line is known: within one step of the last untouched column (row) next to the strip."""
    import edge_age.train.tensors as tensors

    monkeypatch.setattr(tensors, "EDGE_TILT_DEGREES", 0.0)
    side = 40
    g = torch.arange(side, dtype=torch.float32)
    ramp = g[None, :] + 5 * g[:, None]  # H x W
    x = ramp + torch.rand(16, 3, 1, 1, generator=torch.Generator().manual_seed(100 + seed)) * 40
    y = tensors.edge_cut(x.clone(), torch.Generator().manual_seed(seed), 0.5)
    lo, hi = tensors.EDGE_REACH
    cut = 0
    for a, b in zip(x, y):
        moved = (a != b).any(0)  # H x W
        if not moved.any():
            continue
        cut += 1
        cols, rows = moved.any(0), moved.any(1)
        # One side: the moved pixels fill whole columns (or whole rows) from an edge inwards.
        strip, axis = (cols, -1) if moved[:, cols].all() else (rows, -2)
        assert moved.index_select(axis + 2, torch.nonzero(strip).flatten()).all()
        idx = torch.nonzero(strip).flatten()
        assert idx[0] == 0 or idx[-1] == side - 1
        assert len(idx) == idx[-1] - idx[0] + 1
        assert lo * side - 1 <= len(idx) <= hi * side + 1
        lines = b.index_select(axis + 3, idx)
        torch.testing.assert_close(lines, lines.narrow(axis + 3, 0, 1).expand_as(lines), atol=0.01, rtol=0)
        kept = int(idx[0]) - 1 if idx[-1] == side - 1 else int(idx[-1]) + 1
        step = 1.0 if axis == -1 else 5.0
        gap = (lines - a.narrow(axis + 3, kept, 1)).abs()
        assert (gap <= step + 0.01).all(), (kept, gap.max())
    assert 3 <= cut <= 13  # p = 0.5 of 16 faces


def test_edge_cut_is_seeded_and_off_at_zero(monkeypatch) -> None:
    import edge_age.train.tensors as tensors

    x = torch.rand(8, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 255
    a = tensors.edge_cut(x.clone(), torch.Generator().manual_seed(3), 1.0)
    torch.testing.assert_close(a, tensors.edge_cut(x.clone(), torch.Generator().manual_seed(3), 1.0))
    assert all((f != g).any() for f, g in zip(a, x))
    torch.testing.assert_close(tensors.edge_cut(x.clone(), torch.Generator().manual_seed(3), 0.0), x)

    def refuse(*a, **k):
        raise AssertionError("edge_cut called at p = 0")

    monkeypatch.setattr(tensors, "edge_cut", refuse)
    augment(_faces(8), torch.Generator().manual_seed(2), None, 0.2)  # runs without it replay their draws
    with pytest.raises(AssertionError, match="p = 0"):
        augment(_faces(8), torch.Generator().manual_seed(2), None, 0.0, edge_p=0.1)


def test_to_input_hands_degrade_the_specs_colour_order(monkeypatch) -> None:
    """to_input tells the degradations the spec's channel order (how they use it is proven above on exact
    inputs; comparing whole augmented batches would hang on float rounding that differs between CPUs)."""
    import edge_age.train.tensors as tensors

    seen: list[bool] = []
    real = tensors.degrade

    def spy(x, gen, p, rgb=True):
        seen.append(rgb)
        return real(x, gen, p, rgb)

    monkeypatch.setattr(tensors, "degrade", spy)
    faces = _faces(4).permute(0, 2, 3, 1).round().to(torch.uint8).numpy()
    for order in ("RGB", "BGR"):
        to_input(faces, PreprocessSpec(size=32, color_order=order), torch.Generator().manual_seed(6), None, 1.0)
    assert seen == [True, False]


def test_lowres_keeps_a_non_square_shape() -> None:
    x = torch.rand(6, 3, 16, 24) * 255
    y = degrade(x.clone(), torch.Generator().manual_seed(0), 1.0)
    assert y.shape == x.shape


def test_degrade_and_edge_cut_options_are_bounded_and_reach_the_training_batches(
        utk_dir: Path, cache_dir: Path, tmp_path: Path, monkeypatch, capsys) -> None:
    from edge_age.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--data", str(utk_dir), "--degrade", "1.5", "--out", str(tmp_path / "x")])
    assert "--degrade: 1.5 is out of range" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--data", str(utk_dir), "--edge-cut", "-0.1", "--out", str(tmp_path / "x")])
    assert "--edge-cut: -0.1 is out of range" in capsys.readouterr().err
    seen: list[float] = []
    real = train_module.to_input

    def spy(faces, spec, gen, jitter=None, degrade_p=0.0, edge_p=0.0):
        seen.append((degrade_p, edge_p))
        return real(faces, spec, gen, jitter, degrade_p, edge_p)

    monkeypatch.setattr(train_module, "to_input", spy)
    train(_cfg(tmp_path / "run", epochs=1, max_steps=2, degrade=0.3, edge_cut=0.2), DataConfig(str(utk_dir)),
          progress=False, cache_dir=cache_dir, log=lambda s: None)
    assert seen and set(seen) == {(0.3, 0.2)}
    stored = load_checkpoint(tmp_path / "run" / "last.pt")["train_config"]
    assert stored["degrade"] == 0.3 and stored["edge_cut"] == 0.2


def test_resume_of_a_run_saved_before_degrade_keeps_it_off(utk_dir: Path, cache_dir: Path, tmp_path: Path) -> None:
    from edge_age.models.checkpoint import save_checkpoint

    out, data = tmp_path / "old", DataConfig(str(utk_dir))
    quiet = dict(progress=False, cache_dir=cache_dir, log=lambda s: None)
    train(_cfg(out, epochs=1, max_steps=1), data, **quiet)
    state = load_checkpoint(out / "last.pt")
    del state["train_config"]["degrade"], state["train_config"]["edge_cut"]  # as written before the options
    save_checkpoint(out / "last.pt", state)
    train(_cfg(out, epochs=2, max_steps=1, degrade=0.9, edge_cut=0.5), data, resume=True, **quiet)
    stored = load_checkpoint(out / "last.pt")["train_config"]
    assert stored["degrade"] == 0.0 and stored["edge_cut"] == 0.0
    # A run saved with its own value resumes with it, whatever the new command says.
    out = tmp_path / "new"
    train(_cfg(out, epochs=1, max_steps=1, degrade=0.3), data, **quiet)
    train(_cfg(out, epochs=2, max_steps=1, degrade=0.9), data, resume=True, **quiet)
    assert load_checkpoint(out / "last.pt")["train_config"]["degrade"] == 0.3


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


def test_dldl_target_mixes_the_teacher_in_by_its_weight() -> None:
    from edge_age.train.losses import DLDLLoss
    from edge_age.models import create_model

    torch.manual_seed(0)
    model = create_model("mobilenetv2_age", head="distribution", input_size=32)
    y = torch.tensor([10.0, 40.0])
    gauss = torch.exp(-0.5 * ((torch.arange(121.0)[None, :] - y[:, None]) / 2.0) ** 2)
    gauss = gauss / gauss.sum(1, keepdim=True)
    other = torch.softmax(torch.randn(2, 121), dim=1)
    losses = {w: DLDLLoss(model, teacher_weight=w) for w in (0.0, 0.5, 1.0)}  # hooks read the next forward
    model.eval()
    with torch.no_grad():
        pred = model(torch.randn(2, 3, 32, 32)).reshape(-1)
    plain = losses[0.0](pred, y)
    assert losses[1.0](pred, y, gauss).item() == pytest.approx(plain.item(), rel=1e-6)
    assert losses[0.0](pred, y, other).item() == pytest.approx(plain.item(), rel=1e-6)
    half, full = losses[0.5](pred, y, other), losses[1.0](pred, y, other)
    # Cross-entropy is linear in the target: half the teacher gives the midpoint of the two losses.
    assert half.item() == pytest.approx((plain.item() + full.item()) / 2, rel=1e-5)
    assert full.item() != pytest.approx(plain.item(), rel=1e-3)


def test_gate_loss_refuses_a_loss_without_a_distribution(tmp_path: Path, utk_dir: Path, cache_dir: Path) -> None:
    """--gate-loss with a regression loss is refused before any training, whoever builds the config."""
    with pytest.raises(EdgeAgeError, match="--gate-loss"):
        train(_cfg(tmp_path / "r", gate_loss=1.0), DataConfig(str(utk_dir)), PreprocessSpec(size=32), progress=False,
              cache_dir=cache_dir, log=lambda s: None)
    from edge_age.train.losses import DLDLLoss
    from edge_age.models import create_model

    with pytest.raises(EdgeAgeError, match="gate ages"):
        DLDLLoss(create_model("mobilenetv2_age", head="distribution", input_size=32), gate_weight=1.0, gate_ages=(0.0,))


def test_gate_loss_prices_the_mass_on_the_wrong_side_of_a_gate() -> None:
    """The gate term adds nothing at weight 0, more for a teenager read as an adult than for one read as a
    teenager, and its gradient moves the teenager's mass below 18."""
    from edge_age.train.losses import DLDLLoss
    from edge_age.models import create_model

    torch.manual_seed(0)
    model = create_model("mobilenetv2_age", head="distribution", input_size=32)
    plain, gated = DLDLLoss(model), DLDLLoss(model, gate_weight=1.0, gate_ages=(18.0, 25.0))
    y = torch.tensor([15.0])
    bins = torch.arange(121.0)

    def loss(fn: DLDLLoss, centre: float, logits: torch.Tensor | None = None) -> torch.Tensor:
        fn.logits = -0.5 * ((bins[None, :] - centre) / 3.0) ** 2 if logits is None else logits
        pred = (torch.softmax(fn.logits, 1) @ bins).reshape(-1)
        return fn(pred, y)

    off = DLDLLoss(model, gate_weight=0.0, gate_ages=(18.0, 25.0))
    assert loss(off, 22.0).item() == loss(plain, 22.0).item()
    extra_teen = loss(gated, 15.0) - loss(plain, 15.0)
    extra_adult = loss(gated, 22.0) - loss(plain, 22.0)
    assert 0 < extra_teen.item() < extra_adult.item()
    logits = (-0.5 * ((bins[None, :] - 20.0) / 3.0) ** 2).requires_grad_(True)
    gated.logits = logits
    gate_only = gated._gates(torch.softmax(-0.5 * ((bins[None, :] - 15.0) / 2.0) ** 2, 1),
                             torch.log_softmax(logits, 1))
    gate_only.sum().backward()
    step = logits - 0.5 * logits.grad
    assert torch.softmax(step, 1)[0, :18].sum() > torch.softmax(logits, 1)[0, :18].sum()


DIST = dict(model="mobilenetv2_age", loss="dldl", epochs=1, max_steps=2, precision="fp32")


@pytest.fixture
def teacher(utk_dir: Path, cache_dir: Path, tmp_path: Path) -> Path:
    """A 48 px distribution-head model trained for two steps: a stand-in teacher."""
    out = tmp_path / "teacher"
    train(_cfg(out, **DIST, model_kwargs={"head": "distribution", "input_size": 48}), DataConfig(str(utk_dir)),
          PreprocessSpec(size=48), progress=False, cache_dir=cache_dir, log=lambda s: None)
    return out / "best.pt"


def test_teacher_targets_are_the_teachers_own_distributions(teacher: Path, utk_dir: Path, cache_dir: Path) -> None:
    import numpy as np

    from edge_age.models.checkpoint import TorchPredictor
    from edge_age.data.dataset import load_dataset
    from edge_age.train.distill import teacher_targets

    data = DataConfig(str(utk_dir))
    ds = load_dataset(data, PreprocessSpec(size=32), cache_dir=cache_dir, progress=False)
    tr = ds.indices("train")
    soft, info = teacher_targets(teacher, data, ds.faces.names, ds.counts(), tr, 121, cache_dir, progress=False)
    assert soft.shape == (len(ds.faces.names), 121) and info["input_size"] == 48
    assert np.allclose(soft[tr].sum(1), 1, atol=1e-5)
    assert not soft[np.setdiff1d(np.arange(len(soft)), tr)].any()  # val/test rows carry no target
    # Row i is the teacher's distribution for face i: its expectation is the teacher's age for that face.
    faces48 = load_dataset(data, PreprocessSpec(size=48), cache_dir=cache_dir, progress=False).faces.faces
    ages = TorchPredictor(teacher, threads=1).predict(np.asarray(faces48)[tr])
    assert np.allclose(soft[tr] @ np.arange(121.0), ages, atol=1e-3)
    assert np.ptp(ages) > 0  # the stand-in tells faces apart, so a shuffled row would show


def test_student_distils_from_a_teacher_checkpoint(teacher: Path, utk_dir: Path, cache_dir: Path,
                                                   tmp_path: Path) -> None:
    data = DataConfig(str(utk_dir))
    quiet = dict(progress=False, cache_dir=cache_dir, log=lambda s: None)
    student_kw = {"head": "distribution", "input_size": 32}
    lines: list[str] = []
    train(_cfg(tmp_path / "student", **DIST, model_kwargs=student_kw, teacher=str(teacher)), data,
          PreprocessSpec(size=32), progress=False, cache_dir=cache_dir, log=lines.append)
    info = load_checkpoint(tmp_path / "student" / "best.pt")["teacher"]
    assert info["model"] == "mobilenetv2_age" and info["input_size"] == 48 and len(info["sha256"]) == 64
    assert any(line.startswith("teacher mobilenetv2_age (48 px") for line in lines)
    # The teacher changes what the student learns: same seed and steps, other weights.
    train(_cfg(tmp_path / "alone", **DIST, model_kwargs=student_kw), data, PreprocessSpec(size=32), **quiet)
    wa = load_checkpoint(tmp_path / "student" / "last.pt")["state_dict"]
    wb = load_checkpoint(tmp_path / "alone" / "last.pt")["state_dict"]
    assert any(not torch.equal(wa[k], wb[k]) for k in wa if wa[k].is_floating_point())
    # A resumed run must find the same teacher file.
    teacher.write_bytes(teacher.read_bytes() + b"\0")
    with pytest.raises(EdgeAgeError, match="--resume: the run was distilled from a teacher"):
        train(_cfg(tmp_path / "student", **{**DIST, "epochs": 2}, model_kwargs=student_kw, teacher=str(teacher)),
              data, PreprocessSpec(size=32), resume=True, **quiet)


def test_teacher_must_be_a_distribution_model_on_the_same_split(teacher: Path, utk_dir: Path, cache_dir: Path,
                                                                tmp_path: Path) -> None:
    from edge_age.data.split import SplitConfig

    data = DataConfig(str(utk_dir))
    quiet = dict(progress=False, cache_dir=cache_dir, log=lambda s: None)
    student = dict(**DIST, model_kwargs={"head": "distribution", "input_size": 32})
    train(_cfg(tmp_path / "reg", epochs=1, max_steps=1), data, **quiet)
    with pytest.raises(EdgeAgeError, match="--teacher.*needs --loss dldl"):
        train(_cfg(tmp_path / "s1", epochs=1, teacher=str(tmp_path / "reg" / "best.pt")), data, **quiet)
    with pytest.raises(EdgeAgeError, match="--teacher: this model has no distribution head"):
        train(_cfg(tmp_path / "s2", **student, teacher=str(tmp_path / "reg" / "best.pt")), data,
              PreprocessSpec(size=32), **quiet)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(EdgeAgeError, match="--teacher: .*junk.pt: not a readable PyTorch checkpoint"):
        train(_cfg(tmp_path / "s3", **student, teacher=str(tmp_path / "junk.pt")), data, PreprocessSpec(size=32),
              **quiet)
    # A teacher split with another seed has trained on some of the student's val and test faces.
    with pytest.raises(EdgeAgeError, match="--teacher: trained on another split"):
        train(_cfg(tmp_path / "s4", **student, teacher=str(teacher)),
              DataConfig(str(utk_dir), split=SplitConfig(seed=1)), PreprocessSpec(size=32), **quiet)


def test_progressive_sides_grow_towards_the_input_size_then_stay() -> None:
    cfg = TrainConfig(epochs=10, progressive=64, progressive_epochs=4)
    sides = [cfg.input_side(e, 128) for e in range(10)]
    assert sides[:4] == [64, 80, 96, 112] and sides[4:] == [128] * 6
    # A resume with more --epochs keeps the schedule the run started with.
    assert [TrainConfig(epochs=30, progressive=64, progressive_epochs=4).input_side(e, 128) for e in range(10)] == sides
    assert [TrainConfig(epochs=10).input_side(e, 128) for e in range(10)] == [128] * 10  # off by default


def test_progressive_run_trains_small_then_full(utk_dir: Path, cache_dir: Path, tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "prog"
    lines: list[str] = []
    model = dict(model="mobilenetv2_age", model_kwargs={"input_size": 64}, precision="fp32")
    sides: list[int] = []
    real_train_step = train_module.train_step

    def spy(model, opt, loss_fn, x, *args, **kw):  # the side of the batches that reach the model
        sides.append(x.shape[-1])
        return real_train_step(model, opt, loss_fn, x, *args, **kw)

    monkeypatch.setattr(train_module, "train_step", spy)
    train(_cfg(out, epochs=3, max_steps=2, progressive=32, progressive_epochs=2, **model),
          DataConfig(str(utk_dir)), PreprocessSpec(size=64), progress=False, cache_dir=cache_dir, log=lines.append)
    assert sides == [32, 32, 48, 48, 64, 64]
    assert [int(r["train_side"]) for r in _history(out)] == [32, 48, 64]
    assert any(line.startswith("epoch 1/3") and "at 32 px" in line for line in lines)


@pytest.mark.parametrize("kw, message", [
    (dict(progressive=64, progressive_epochs=1), "--progressive 64: simplecnn takes only 128 px"),
    (dict(progressive=128, progressive_epochs=1), "--progressive 128 must be below the input size, 128 px"),
    (dict(progressive=64, progressive_epochs=3), "--progressive-epochs 3 leaves no epoch at the input size"),
])
def test_progressive_refuses_what_it_cannot_do(kw, message, utk_dir: Path, cache_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(EdgeAgeError, match=message):
        train(_cfg(tmp_path / "r", epochs=3, **kw), DataConfig(str(utk_dir)), progress=False, cache_dir=cache_dir,
              log=lambda s: None)


def test_second_option_of_a_pair_alone_is_a_one_line_error(utk_dir: Path, tmp_path: Path, capsys) -> None:
    from edge_age.cli import main

    for extra, main_opt in ((["--teacher-weight", "0.3"], "--teacher"), (["--progressive-epochs", "4"], "--progressive")):
        rc = main(["train", "--data", str(utk_dir), "--out", str(tmp_path / "r"), "--no-progress", *extra])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and f"{extra[0]} needs {main_opt}" in err and len(err.splitlines()) == 1, err


def test_balance_weights_lift_a_rare_age_by_the_root_of_its_rarity() -> None:
    """100 faces aged 26 and 4 aged 10, farther apart than the smoothing reaches: at power 0.5 a
    10-year-old weighs sqrt(100 / 4) = 5 times a 26-year-old, and the weights average 1 over the faces."""
    from edge_age.train.losses import balance_weights

    ages = np.array([26.0] * 100 + [10.0] * 4)
    weigh = balance_weights(ages, 0.5)
    w = weigh(ages)
    assert w.mean() == pytest.approx(1.0, rel=1e-6)
    assert w[-1] / w[0] == pytest.approx(5.0, rel=1e-5)
    assert (balance_weights(ages, 0.0)(ages) == 1.0).all()
    gap, old = weigh(np.array([0.0, 18.0])), weigh(np.array([250.0]))
    np.testing.assert_allclose(gap, w.max(), rtol=1e-6)  # in a gap of the histogram: the rarest age's weight
    np.testing.assert_allclose(old, w[0], rtol=1e-6)  # beyond the oldest: the oldest's


def test_balance_weights_smooth_over_neighbouring_ages() -> None:
    """4 faces aged 21 beside 100 aged 20 are not rare: the smoothed density of 21 borrows most of 20's,
    so the 21-year-olds weigh far less than the sqrt(100 / 4) = 5 an unsmoothed histogram would give."""
    from edge_age.train.losses import balance_weights

    ages = np.array([20.0] * 100 + [21.0] * 4)
    w = balance_weights(ages, 0.5)(ages)
    assert 1.0 < w[-1] / w[0] < 1.3
    raw = balance_weights(ages, 0.5, sigma=0)(ages)
    assert raw[-1] / raw[0] == pytest.approx(5.0, rel=1e-5)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.0, 150.0, allow_nan=False), min_size=1, max_size=300), st.floats(0.0, 1.0))
def test_balance_weights_average_one_and_depend_on_the_age_mix_alone(ages: list[float], power: float) -> None:
    from edge_age.train.losses import balance_weights

    a = np.asarray(ages, float)
    w = balance_weights(a, power)(a)
    assert np.isfinite(w).all() and (w > 0).all()
    assert w.mean() == pytest.approx(1.0, rel=1e-4)
    # the same mix of ages, twice the faces: the same weights
    np.testing.assert_allclose(balance_weights(np.concatenate([a, a]), power)(a), w, rtol=1e-5)
    if len(set(np.floor(a))) == 1:  # one year's bin holds every face: nothing is rarer than anything
        np.testing.assert_allclose(w, 1.0, rtol=1e-5)


@pytest.mark.parametrize("name", ["l1", "mse", "smoothl1", "dldl"])
def test_row_weights_make_the_loss_a_weighted_mean_of_the_rows(name: str) -> None:
    """Weight 2 on the first row and 0 on the second is the loss of the first row alone; weight 1 on
    both is the plain loss: --balance reweights rows and changes nothing else."""
    from edge_age.train.losses import LOSSES, DLDLLoss
    from edge_age.models import create_model

    torch.manual_seed(0)
    model = create_model("mobilenetv2_age", head="distribution", input_size=32).eval()
    loss = DLDLLoss(model) if name == "dldl" else LOSSES[name]
    x, y = torch.randn(2, 3, 32, 32), torch.tensor([12.0, 47.0])
    with torch.no_grad():
        first = model(x[:1]).reshape(-1)
        alone = loss(first, y[:1]).item()
        both = model(x).reshape(-1)
        plain = loss(both, y).item()
        assert loss(both, y, weight=torch.tensor([1.0, 1.0])).item() == pytest.approx(plain, rel=1e-6)
        assert loss(both, y, weight=torch.tensor([2.0, 0.0])).item() == pytest.approx(alone, rel=1e-4)
        assert plain != pytest.approx(alone, rel=1e-3)


def test_balanced_run_hands_each_step_row_weights_of_mean_one(utk_dir: Path, cache_dir: Path, tmp_path: Path,
                                                               monkeypatch) -> None:
    """--balance reaches the loss: every step gets one weight per row, rarer ages weighing more, with
    mean 1 over the batch; without it no weights are passed."""
    from edge_age.train.losses import balance_weights

    seen: list[tuple[torch.Tensor, torch.Tensor | None]] = []
    real = train_module.train_step

    def spy(model, opt, loss_fn, x, y, *a, row_weight=None, **k):
        seen.append((y.clone(), row_weight))
        return real(model, opt, loss_fn, x, y, *a, row_weight=row_weight, **k)

    monkeypatch.setattr(train_module, "train_step", spy)
    quiet = dict(progress=False, cache_dir=cache_dir, log=lambda s: None)
    train(_cfg(tmp_path / "plain", epochs=1, max_steps=2), DataConfig(str(utk_dir)), **quiet)
    assert seen and all(w is None for _, w in seen)
    seen.clear()
    train(_cfg(tmp_path / "balanced", epochs=1, max_steps=2, balance=0.5), DataConfig(str(utk_dir)), **quiet)
    assert len(seen) == 2
    from edge_age.data.dataset import load_dataset

    ds = load_dataset(DataConfig(str(utk_dir)), PreprocessSpec(), cache_dir=cache_dir, progress=False)
    weigh = balance_weights(ds.faces.ages[ds.indices("train")], 0.5)
    for y, w in seen:
        assert w is not None and float(w.mean()) == pytest.approx(1.0, rel=1e-5)
        want = weigh(y.numpy())
        np.testing.assert_allclose(w.numpy(), want / want.mean(), rtol=1e-5)
        assert float(w.std()) > 0.05  # the fixture's faces span many ages


def test_balanced_run_records_its_power_and_old_runs_resume_unbalanced(utk_dir: Path, cache_dir: Path,
                                                                         tmp_path: Path, monkeypatch) -> None:
    """--balance is stored with the run; a run saved before the option existed resumes with 0 (it trained
    unweighted), so its remaining epochs keep the objective its first ones had."""
    from edge_age.models.checkpoint import save_checkpoint

    quiet = dict(progress=False, cache_dir=cache_dir, log=lambda s: None)
    data = DataConfig(str(utk_dir))
    out = tmp_path / "run"
    train(_cfg(out, epochs=1, max_steps=2, balance=0.5), data, **quiet)
    state = load_checkpoint(out / "last.pt")
    assert state["train_config"]["balance"] == 0.5
    for key in ("balance", "degrade", "ema"):
        state["train_config"].pop(key)
    save_checkpoint(out / "last.pt", state)
    seen: list[tuple[TrainConfig, object]] = []
    real = train_module._run_epoch

    def spy(run, epoch):
        seen.append((run.cfg, run.weights))
        return real(run, epoch)

    monkeypatch.setattr(train_module, "_run_epoch", spy)
    train(_cfg(out, epochs=2, max_steps=2, balance=0.5), data, resume=True, **quiet)
    (cfg, weights), = seen
    assert cfg.balance == 0.0 and cfg.degrade == 0.0 and cfg.ema == 0.0 and weights is None


def test_ema_validates_and_saves_the_moving_average_of_every_step(utk_dir: Path, cache_dir: Path, tmp_path: Path,
                                                                   monkeypatch, capsys) -> None:
    """--ema D: validation and best.pt see the exponential average of the weights after each optimiser
    step (BatchNorm statistics included: mobilenetv2_age has them), while last.pt keeps the trained
    weights that the next step continues from."""
    from edge_age.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--data", str(utk_dir), "--ema", "1", "--out", str(tmp_path / "x")])
    assert "--ema: 1 is out of range" in capsys.readouterr().err
    after_steps: list[dict[str, torch.Tensor]] = []
    validated: list[dict[str, torch.Tensor]] = []
    real_step, real_validate = train_module.train_step, train_module._validate

    def step_spy(model, *a, **k):
        out = real_step(model, *a, **k)
        after_steps.append({n: t.detach().clone() for n, t in model.state_dict().items()})
        return out

    def validate_spy(run, *a, **k):
        validated.append({n: t.detach().clone() for n, t in run.scored.state_dict().items()})
        return real_validate(run, *a, **k)

    monkeypatch.setattr(train_module, "train_step", step_spy)
    monkeypatch.setattr(train_module, "_validate", validate_spy)
    out, decay = tmp_path / "ema", 0.6
    train(_cfg(out, model="mobilenetv2_age", model_kwargs={"input_size": 32}, epochs=1, max_steps=3, ema=decay,
               precision="fp32"), DataConfig(str(utk_dir)), PreprocessSpec(size=32), progress=False,
          cache_dir=cache_dir, log=lambda s: None)
    assert len(after_steps) == 3 and len(validated) == 1
    average = dict(after_steps[0])  # the first update copies the weights
    for w in after_steps[1:]:
        average = {n: decay * average[n] + (1 - decay) * w[n] if w[n].is_floating_point() else w[n] for n in w}
    best, last = load_checkpoint(out / "best.pt")["state_dict"], load_checkpoint(out / "last.pt")["state_dict"]
    floats = [n for n, t in average.items() if t.is_floating_point()]
    assert any("running_mean" in n for n in floats)
    for n in floats:
        torch.testing.assert_close(best[n], average[n], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(validated[0][n], average[n], rtol=1e-5, atol=1e-6)
        assert torch.equal(last[n], after_steps[-1][n])
    assert any(not torch.allclose(best[n], last[n], atol=1e-4) for n in floats)  # not the trained weights


def test_ema_recalibrates_the_average_and_restarts_at_full_size(utk_dir: Path, cache_dir: Path, tmp_path: Path,
                                                                 monkeypatch) -> None:
    """With --bn-recalib the statistics recomputed each epoch are the average's, not the trained weights';
    with --progressive the average starts afresh at the first full-size epoch, so it holds none of the
    weights trained on downscaled batches (nor their BatchNorm statistics)."""
    recalibrated: list[dict[str, torch.Tensor]] = []
    real = train_module.recalibrate_bn

    def spy(model, *a, **k):
        recalibrated.append({n: p.detach().clone() for n, p in model.named_parameters()})
        return real(model, *a, **k)

    monkeypatch.setattr(train_module, "recalibrate_bn", spy)
    out = tmp_path / "ema"
    train(_cfg(out, model="mobilenetv2_age", model_kwargs={"input_size": 64}, epochs=2, max_steps=3, ema=0.6,
               bn_recalib=8, progressive=32, progressive_epochs=1, precision="fp32"),
          DataConfig(str(utk_dir)), PreprocessSpec(size=64), progress=False, cache_dir=cache_dir, log=lambda s: None)
    state = load_checkpoint(out / "last.pt")
    assert int(state["ema"]["n_averaged"]) == 3  # the full-size epoch's 3 steps, not all 6
    assert len(recalibrated) == 2
    average, trained = state["ema"], state["state_dict"]
    for n, p in recalibrated[-1].items():
        torch.testing.assert_close(p, average[f"module.{n}"])
    assert any(not torch.equal(p, trained[n]) for n, p in recalibrated[-1].items())  # not the trained weights
