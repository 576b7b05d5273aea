"""``edge-age export``: every file of the formats table, each proven against the PyTorch model.

For each file the exporter reloads it through :mod:`edge_age.runtime` (the code users run),
predicts the val split, and stores parity with PyTorch (max/mean |diff|), the file's MAE and its
prediction spread in the model card. The collapse guard fails an int8 file whose predictions have
far less spread than the float model's, or whose MAE is worse than 1.05 x its fp32 sibling's --
constant-output int8 files are the most reported failure of these converters.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edge_age import __version__, fileio
from edge_age.checkpoint import build_model, load_checkpoint
from edge_age.data.dataset import DataConfig, load_dataset
from edge_age.data.preprocess import PreprocessSpec
from edge_age.data.split import stable_hash
from edge_age.errors import EdgeAgeError
from edge_age.evaluate import predict_all
from edge_age.export import onnx_export, tflite_export
from edge_age.export.prepare import fold_age_scale, quantization_friendly
from edge_age.export.qat import QATConfig
from edge_age.formats import FORMATS, ExportFormat
from edge_age.runtime import load_predictor

MAE_RATIO_LIMIT = 1.05
SPREAD_RATIO_LIMIT = 0.5


@dataclass(frozen=True)
class ExportConfig:
    checkpoint: str
    out: str | None = None  # default: export/NAME
    name: str | None = None  # default: the checkpoint's model name
    formats: tuple[str, ...] = ("onnx", "tflite")
    int8: bool = False
    data: str | None = None  # where the checkpoint's dataset is now (default: where it was)
    calib_data: str | None = None  # default: the training split
    calib_size: int = 300
    val_limit: int | None = None  # parity on at most this many val faces (default: all)
    allow_degraded: bool = False
    qat_epochs: float = 0.0  # > 0: quantization-aware fine-tuning for the int8 TFLite file


def select_formats(cfg: ExportConfig) -> list[ExportFormat]:
    families = {f.name.split("_")[0] for f in FORMATS}
    unknown = set(cfg.formats) - families
    if unknown:
        raise EdgeAgeError(f"unknown format family {sorted(unknown)}; choose from {', '.join(sorted(families))}")
    return [f for f in FORMATS if f.name.split("_")[0] in cfg.formats and (cfg.int8 or not f.int8)]


def stratified_pick(ages: np.ndarray, names: list[str], n: int, seed: int = 0) -> np.ndarray:
    """``n`` indices spread evenly over the age-sorted list: every age band is in the calibration set."""
    order = sorted(range(len(ages)), key=lambda i: (ages[i], stable_hash(seed, names[i])))
    if n >= len(order):
        return np.asarray(order)
    return np.asarray([order[int(k)] for k in np.linspace(0, len(order) - 1, n)])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _io_details(predictor: Any) -> dict[str, Any]:
    if predictor.runtime == "litert":
        def d(t: dict) -> dict:
            scale, zp = t["quantization"]
            return {"shape": [int(v) for v in t["shape"]], "dtype": np.dtype(t["dtype"]).name,
                    "scale": float(scale), "zero_point": int(zp)}
        return {"input": d(predictor.inp), "output": d(predictor.out), "layout": "NHWC"}
    i = predictor.session.get_inputs()[0]
    return {"input": {"shape": [s if isinstance(s, int) else -1 for s in i.shape], "dtype": "float32"},
            "output": {"dtype": "float32"}, "layout": predictor.layout}


def export_checkpoint(
    cfg: ExportConfig, command: str = "", progress: bool = True, cache_dir: Path | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    ckpt = load_checkpoint(cfg.checkpoint)
    model = build_model(ckpt, cfg.checkpoint)
    spec = PreprocessSpec.from_dict(ckpt["preprocess"])
    name = cfg.name or ckpt["model"]
    out = Path(cfg.out or Path("export") / name)
    data_cfg = DataConfig.from_dict(ckpt["data"])
    if cfg.data:
        data_cfg = replace(data_cfg, path=cfg.data)
    formats = select_formats(cfg)

    ds = load_dataset(data_cfg, spec, cache_dir=cache_dir, progress=progress, splits=("train", "val"))
    val = ds.indices("val")
    if cfg.val_limit and len(val) > cfg.val_limit:
        val = np.asarray(sorted(val, key=lambda i: stable_hash(1, ds.faces.names[i]))[: cfg.val_limit])
    if len(val) == 0:
        raise EdgeAgeError("the val split is empty: nothing to prove the exported files on", data_cfg.path)
    val_faces, val_ages = np.asarray(ds.faces.faces[val]), ds.faces.ages[val]

    calib = None
    if cfg.int8:
        if cfg.calib_data:
            cds = load_dataset(DataConfig(cfg.calib_data), spec, cache_dir=cache_dir, progress=progress)
            pool = np.arange(len(cds.faces))
        else:
            cds, pool = ds, ds.indices("train")
        pick = stratified_pick(cds.faces.ages[pool], [cds.faces.names[i] for i in pool], cfg.calib_size)
        calib = np.asarray(cds.faces.faces[pool[pick]])

    from edge_age.checkpoint import TorchPredictor  # same predictor interface as every file

    torch_pred = TorchPredictor(cfg.checkpoint)
    ref = predict_all(torch_pred, val_faces, progress=progress)
    ref_mae = float(np.abs(ref - val_ages).mean())
    # The run folder is scratch space; the card keeps how its weights were trained (one line per start/resume).
    train_cmd = Path(cfg.checkpoint).parent / "train_command.txt"
    card: dict[str, Any] = {
        "name": name,
        "model": ckpt["model"],
        "edge_age_version": __version__,
        "preprocess": spec.to_dict(),
        "data": data_cfg.to_dict(),
        "split_counts": ckpt.get("split_counts"),
        "checkpoint": {"file": str(cfg.checkpoint), "epoch": int(ckpt.get("epoch", -1)) + 1,
                       "val_mae": float(ref_mae), "pred_std": float(ref.std()),
                       "train_command": train_cmd.read_text().splitlines() if train_cmd.exists() else []},
        "calibration": None if calib is None else {
            "n": int(len(calib)), "source": cfg.calib_data or f"{data_cfg.path} [train split]",
            "selection": "evenly spaced over age-sorted faces",
            "ranges": {}},  # per int8 file, as its writer reports it
        "parity_on": {"split": "val", "n": int(len(val))},
        "command": command,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "files": {},
    }
    card_file = out / f"{name}.json"
    fileio.write_json(card_file, card)  # the runtime reads the card while files are verified

    export_model = quantization_friendly(fold_age_scale(model), spec.size)
    failures = []
    for fmt in formats:
        path = out / f"{name}{fmt.suffix}"
        log(f"exporting {path} ...")
        if fmt.name == "onnx_fp32":
            onnx_export.export_fp32(export_model, path, spec, _meta(card))
        elif fmt.name == "onnx_int8":
            fp32 = out / f"{name}_fp32.onnx"
            if not fp32.exists():
                onnx_export.export_fp32(export_model, fp32, spec, _meta(card))
            card["calibration"]["ranges"][fmt.name] = onnx_export.quantize_int8(fp32, path, calib, spec, _meta(card))
        elif fmt.name == "tflite_fp32":
            tflite_export.export_fp32(export_model, path, spec)
        elif fmt.name == "tflite_int8":
            qat = QATConfig(epochs=cfg.qat_epochs) if cfg.qat_epochs > 0 else None
            train_faces = np.asarray(ds.faces.faces[ds.indices("train")]) if qat else None
            card["calibration"]["ranges"][fmt.name] = tflite_export.export_int8(
                export_model, path, calib, spec, qat=qat, train_faces=train_faces, progress=progress)
        predictor = load_predictor(path)
        pred = predict_all(predictor, val_faces, progress=progress)
        diff = np.abs(pred - ref)
        entry = {
            "file": path.name, "format": fmt.name, "runtime": fmt.runtime, "int8": fmt.int8,
            "bytes": path.stat().st_size, "sha256": _sha256(path), **_io_details(predictor),
            "parity": {"max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean()),
                       "mae": float(np.abs(pred - val_ages).mean()), "torch_mae": ref_mae,
                       "pred_std": float(pred.std())},
        }
        if fmt.int8:
            sibling = card["files"].get(fmt.name.replace("int8", "fp32"))
            base_mae = sibling["parity"]["mae"] if sibling else ref_mae
            ratio = entry["parity"]["mae"] / max(base_mae, 1e-9)
            spread = entry["parity"]["pred_std"] / max(float(ref.std()), 1e-9)
            entry["parity"].update({"mae_ratio_vs_fp32": ratio, "spread_ratio_vs_torch": spread})
            if ratio > MAE_RATIO_LIMIT or spread < SPREAD_RATIO_LIMIT:
                failures.append(f"{path.name}: MAE {entry['parity']['mae']:.2f} = {ratio:.3f} x fp32 "
                                f"(limit {MAE_RATIO_LIMIT}), prediction spread {spread:.2f} x float "
                                f"(limit {SPREAD_RATIO_LIMIT})")
                entry["degraded"] = True
        card["files"][fmt.name] = entry
        fileio.write_json(card_file, card)

    log(format_card(card))
    if failures and not cfg.allow_degraded:
        for fmt_name, entry in list(card["files"].items()):
            if entry.get("degraded"):
                (out / entry["file"]).unlink(missing_ok=True)
                card["files"].pop(fmt_name)
        fileio.write_json(card_file, card)
        raise EdgeAgeError(
            "int8 export degraded (collapse guard): " + "; ".join(failures)
            + ". Removed the file(s). Check --calib-data (real faces, not blank images), raise --calib-size, "
              "or pass --allow-degraded to keep them"
        )
    return card


def _meta(card: dict[str, Any]) -> dict[str, Any]:
    """The essentials that travel inside each ONNX file."""
    return {k: card[k] for k in ("name", "model", "edge_age_version", "data", "command", "created")}


def format_card(card: dict[str, Any]) -> str:
    lines = [f"{'file':<28}{'size MB':>9}{'val MAE':>9}{'max|d|':>9}{'mean|d|':>9}",
             f"{'(pytorch fp32)':<28}{'':>9}{card['checkpoint']['val_mae']:>9.3f}"]
    for e in card["files"].values():
        p = e["parity"]
        lines.append(f"{e['file']:<28}{e['bytes'] / 1e6:>9.2f}{p['mae']:>9.3f}{p['max_abs_diff']:>9.3f}"
                     f"{p['mean_abs_diff']:>9.3f}" + ("  DEGRADED" if e.get("degraded") else ""))
    return "\n".join(lines)
