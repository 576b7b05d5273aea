"""``edge-age export``: every file of the formats table, each proven against the PyTorch model.

For each file the exporter reloads it through :mod:`edge_age.runtime` (the code users run),
predicts the val split, and stores parity with PyTorch (max/mean |diff|), the file's MAE and its
prediction spread in the model card. The collapse guard fails an int8 file whose predictions have
far less spread than the float model's, or whose MAE is worse than 1.05 x its fp32 sibling's --
constant-output int8 files are the most reported failure of these converters.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edge_age import __version__, fileio
from edge_age.runtime import intervals
from edge_age.models.checkpoint import build_model, load_checkpoint
from edge_age.data.dataset import DataConfig, Dataset, load_dataset
from edge_age.data.preprocess import PreprocessSpec
from edge_age.data.split import stable_hash
from edge_age.errors import EdgeAgeError
from edge_age.runtime.batch import predict_all
from edge_age.export.config import ExportConfig
from edge_age.export.job import WriteJob
from edge_age.export.prepare import FlipAverage, PixelInput, fold_age_scale, quantization_friendly
from edge_age.export.qat import QATConfig
from edge_age.formats import FORMATS, ExportFormat, sibling
from edge_age.runtime import load_predictor
from edge_age.runtime.flip import flip_averaged
from edge_age.runtime.card import ModelCard
from edge_age.runtime.golden import golden_entry

__all__ = ["ExportConfig", "export_checkpoint", "format_card"]

MAE_RATIO_LIMIT = 1.05
SPREAD_RATIO_LIMIT = 0.5


def stratified_pick(ages: np.ndarray, names: list[str], n: int, seed: int = 0) -> np.ndarray:
    """``n`` indices spread evenly over the age-sorted list: every age band is in the calibration set."""
    order = sorted(range(len(ages)), key=lambda i: (ages[i], stable_hash(seed, names[i])))
    if n >= len(order):
        return np.asarray(order)
    return np.asarray([order[int(k)] for k in np.linspace(0, len(order) - 1, n)])


def _io_details(predictor: Any, fmt: ExportFormat) -> dict[str, Any]:
    if fmt.runtime == "litert":
        def d(t: dict) -> dict:
            scale, zp = t["quantization"]
            return {"shape": [int(v) for v in t["shape"]], "dtype": np.dtype(t["dtype"]).name,
                    "scale": float(scale), "zero_point": int(zp)}
        return {"input": d(predictor.inp), "output": d(predictor.out), "layout": fmt.layout}
    i = predictor.session.get_inputs()[0]
    return {"input": {"shape": [s if isinstance(s, int) else -1 for s in i.shape], "dtype": "float32"},
            "output": {"dtype": "float32"}, "layout": fmt.layout}


def _val_faces(ds: Dataset, limit: int | None, source: str) -> tuple[np.ndarray, np.ndarray]:
    """The val faces every file is proven on (a stable subset with ``limit``)."""
    val = ds.indices("val")
    if limit and len(val) > limit:
        val = np.asarray(sorted(val, key=lambda i: stable_hash(1, ds.faces.names[i]))[:limit])
    if len(val) == 0:
        raise EdgeAgeError("the val split is empty: nothing to prove the exported files on", source)
    return np.asarray(ds.faces.faces[val]), ds.faces.ages[val]


def _calibration_faces(cfg: ExportConfig, ds: Dataset, spec: PreprocessSpec, cache_dir: Path | None,
                       progress: bool) -> np.ndarray:
    if cfg.calib_data:
        cds = load_dataset(DataConfig(cfg.calib_data), spec, cache_dir=cache_dir, progress=progress)
        pool = np.arange(len(cds.faces))
    else:
        cds, pool = ds, ds.indices("train")
    pick = stratified_pick(cds.faces.ages[pool], [cds.faces.names[i] for i in pool], cfg.calib_size)
    return np.asarray(cds.faces.faces[pool[pick]])


def _new_card(cfg: ExportConfig, ckpt: dict[str, Any], name: str, spec: PreprocessSpec, data_cfg: DataConfig,
              ref: np.ndarray, ref_mae: float, n_val: int, n_calib: int | None, command: str) -> ModelCard:
    # The run folder is scratch space; the card keeps how its weights were trained (one line per start/resume).
    train_cmd = Path(cfg.checkpoint).parent / "train_command.txt"
    # data: what the files were proven and calibrated on, and what eval scores by default. Where that is not
    # the training data (e.g. aligned chips for a model trained on detected photos), the card keeps both.
    trained = DataConfig.from_dict(ckpt["data"])
    same = trained.path == data_cfg.path
    return ModelCard(
        name=name, model=ckpt["model"], preprocess=spec, edge_age_version=__version__, data=data_cfg.to_dict(),
        split_counts=ckpt.get("split_counts") if same else None,
        checkpoint={"file": str(cfg.checkpoint), "epoch": int(ckpt.get("epoch", -1)) + 1,
                    "val_mae": float(ref_mae), "pred_std": float(ref.std()),
                    "train_command": train_cmd.read_text().splitlines() if train_cmd.exists() else [],
                    **({} if same else {"data": trained.to_dict(), "split_counts": ckpt.get("split_counts")}),
                    **({"teacher": ckpt["teacher"]} if ckpt.get("teacher") else {}),
                    **({"recipe": recipe} if (recipe := ckpt.get("train_config", {}).get("recipe")) else {})},
        calibration=None if n_calib is None else {
            "n": int(n_calib), "source": cfg.calib_data or f"{data_cfg.path} [train split]",
            "selection": "evenly spaced over age-sorted faces",
            "ranges": {}},  # per int8 file, as its writer reports it
        parity_on={"split": "val", "n": int(n_val)},
        flip_average=cfg.flip_average,
        command=command,
        created=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    )


def _verify(path: Path, fmt: ExportFormat, card: ModelCard, val_faces: np.ndarray, val_ages: np.ndarray,
            ref: np.ndarray, progress: bool) -> tuple[dict[str, Any], str | None]:
    """Re-run a written file through the runtime users run; its card entry, and why it fails the
    collapse guard (None when it passes)."""
    predictor = load_predictor(path, check=False)
    pred = predict_all(predictor, val_faces, progress=progress)
    diff = np.abs(pred - ref)
    ref_mae = float(np.abs(ref - val_ages).mean())
    parity = {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
              "mae": float(np.abs(pred - val_ages).mean()), "torch_mae": ref_mae, "pred_std": float(pred.std())}
    entry = {"file": path.name, "format": fmt.name, "runtime": fmt.runtime, "int8": fmt.int8,
             "bytes": path.stat().st_size, "sha256": fileio.sha256_file(path), **_io_details(predictor, fmt), "parity": parity,
             "golden": golden_entry(predictor, fmt.load_predictor()(path, safe=True), fmt.family, fmt.precision),
             "interval": intervals.fit(pred, val_ages)}  # this file's own val errors
    if not fmt.int8:
        return entry, None
    fp32 = sibling(fmt, "fp32")
    base = card.files.get(fp32.name) if fp32 else None
    base_mae = base["parity"]["mae"] if base else ref_mae
    ratio = parity["mae"] / max(base_mae, 1e-9)
    spread = parity["pred_std"] / max(float(ref.std()), 1e-9)
    parity.update({"mae_ratio_vs_fp32": ratio, "spread_ratio_vs_torch": spread})
    if ratio <= MAE_RATIO_LIMIT and spread >= SPREAD_RATIO_LIMIT:
        return entry, None
    entry["degraded"] = True
    return entry, (f"{path.name}: MAE {parity['mae']:.2f} = {ratio:.3f} x fp32 (limit {MAE_RATIO_LIMIT}), "
                   f"prediction spread {spread:.2f} x float (limit {SPREAD_RATIO_LIMIT})")


def _drop_degraded(card: ModelCard, folder: Path) -> None:
    for fmt_name, entry in list(card.files.items()):
        if entry.get("degraded"):
            (folder / entry["file"]).unlink(missing_ok=True)
            card.files.pop(fmt_name)


def _write_all(rows: list[ExportFormat], job: WriteJob, staging: Path, out: Path, name: str, card: ModelCard,
               val: tuple[np.ndarray, np.ndarray, np.ndarray], progress: bool,
               log: Callable[[str], None]) -> list[str]:
    """Each row's writer, then its check; the card in ``staging`` is rewritten after every file."""
    card_file = staging / f"{name}.json"
    card.write(card_file)  # the runtime reads the card while files are verified
    failures = []
    for fmt in rows:
        path = staging / f"{name}{fmt.suffix}"
        log(f"exporting {out / path.name} ...")
        ranges = fmt.load_writer()(job, path)
        if fmt.int8 and card.calibration is not None:
            card.calibration["ranges"][fmt.name] = ranges
        entry, failure = _verify(path, fmt, card, *val, progress)
        card.files[fmt.name] = entry
        failures += [failure] if failure else []
        card.write(card_file)
    return failures


def _export_spec(cfg: ExportConfig, ckpt: dict[str, Any]) -> PreprocessSpec:
    """The checkpoint's spec, taking pixels (contract 1: every file normalises inside; the runtimes only
    crop and resize), with ``--framing``'s fit in place of the trained one where given (a new detector
    needs its own fit while the model, trained on the chips, stays the same)."""
    spec = replace(PreprocessSpec.from_dict(ckpt["preprocess"]), input_pixels=True)
    if cfg.framing:
        from edge_age.data.framing_fit import load_fit

        spec = replace(spec, framing=load_fit(cfg.framing)[0])
    return spec


def _write_job(cfg: ExportConfig, ckpt: dict[str, Any], spec: PreprocessSpec, card: ModelCard,
               calib: np.ndarray | None, ds: Dataset, progress: bool) -> WriteJob:
    """The model as every file holds it (age scale folded, friendly to int8, normalisation inside) and
    what the writers need beside it."""
    qat = QATConfig(epochs=cfg.qat_epochs) if cfg.qat_epochs > 0 else None
    export_model = quantization_friendly(fold_age_scale(build_model(ckpt, cfg.checkpoint)), spec.size)
    if cfg.flip_average:  # behind the normalisation (a per-channel op: the flip commutes with it), which so
        export_model = FlipAverage(export_model)  # stays the first op on the input, as contract 1's int8 files need
    export_model = PixelInput(export_model, spec.mean, spec.std)
    return WriteJob(model=export_model.eval(), spec=spec, meta=_meta(card), calib=calib, qat=qat, progress=progress,
                    train_faces=np.asarray(ds.faces.faces[ds.indices("train")]) if qat else None)


def _reference_ages(cfg: ExportConfig, val_faces: np.ndarray, progress: bool) -> np.ndarray:
    """PyTorch's ages on the val faces, through the same predictor interface as every file; with
    --flip-average the files average each face with its mirror image, and so does the reference."""
    from edge_age.models.checkpoint import TorchPredictor

    torch_model = TorchPredictor(cfg.checkpoint)
    return predict_all(flip_averaged(torch_model) if cfg.flip_average else torch_model, val_faces, progress=progress)


def export_checkpoint(
    cfg: ExportConfig, command: str = "", progress: bool = True, cache_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> ModelCard:
    """Write every requested row of the formats table, each re-run and checked, into a staging folder
    that replaces ``out`` as a whole: a killed export leaves the previous complete set."""
    rows = cfg.rows()
    ckpt = load_checkpoint(cfg.checkpoint)
    spec = _export_spec(cfg, ckpt)
    name = cfg.name or ckpt["model"]
    out = Path(cfg.out or Path("runs") / "export" / name)
    data_cfg = DataConfig.from_dict(ckpt["data"]).with_path(cfg.data)
    if cfg.detect_faces:
        data_cfg = replace(data_cfg, detect_faces=True)

    ds = load_dataset(data_cfg, spec, cache_dir=cache_dir, progress=progress, splits=("train", "val"))
    val_faces, val_ages = _val_faces(ds, cfg.limit, data_cfg.path)
    calib = _calibration_faces(cfg, ds, spec, cache_dir, progress) if any(f.int8 for f in rows) else None
    ref = _reference_ages(cfg, val_faces, progress)
    card = _new_card(cfg, ckpt, name, spec, data_cfg, ref, float(np.abs(ref - val_ages).mean()), len(val_faces),
                     None if calib is None else len(calib), command)
    job = _write_job(cfg, ckpt, spec, card, calib, ds, progress)
    owned = {f"{name}.json"} | {f"{name}{f.suffix}" for f in FORMATS}
    # A failure leaves the previous set, and a full disk (any writer's, the converters' too) is one line.
    with fileio.when_disk_full(out, "the export"), fileio.staged_folder(out, owned, index=f"{name}.json") as staging:
        failures = _write_all(rows, job, staging, out, name, card, (val_faces, val_ages, ref), progress, log)
        log(format_card(card))
        if failures and not cfg.allow_degraded:
            _drop_degraded(card, staging)
            card.write(staging / f"{name}.json")
    if failures and not cfg.allow_degraded:
        raise EdgeAgeError(
            "int8 export degraded (collapse guard): " + "; ".join(failures)
            + ". Removed the file(s). Check --calib-data (real faces, not blank images), raise --calib-size, "
              "or pass --allow-degraded to keep them"
        )
    return card


def _meta(card: ModelCard) -> dict[str, Any]:
    """The essentials that travel inside each ONNX file."""
    return {k: getattr(card, k) for k in ("name", "model", "edge_age_version", "data", "command", "created")}


def format_card(card: ModelCard) -> str:
    lines = [f"{'file':<28}{'size MB':>9}{'val MAE':>9}{'max|d|':>9}{'mean|d|':>9}",
             f"{'(pytorch fp32)':<28}{'':>9}{card.checkpoint['val_mae']:>9.3f}"]
    for e in card.files.values():
        p = e["parity"]
        lines.append(f"{e['file']:<28}{e['bytes'] / 1e6:>9.2f}{p['mae']:>9.3f}{p['max_abs_diff']:>9.3f}"
                     f"{p['mean_abs_diff']:>9.3f}" + ("  DEGRADED" if e.get("degraded") else ""))
    return "\n".join(lines)
