"""``edge-age bench``: every artifact x runtime x thread count, with speed-up against float ResNets.

The headline is a ratio measured side by side in one run (int8 SimpleCNN vs fp32 ResNet18/50 on
the same core and thread count), not an absolute time from another machine.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, Callable

from edge_age.bench.config import BenchConfig
from edge_age.bench.peak import measure_peak
from edge_age.bench.row import Accuracy, BenchRow, PhotoAge, Timing
from edge_age.errors import EdgeAgeError
from edge_age.formats import FORMATS, format_of
from edge_age.runtime.card import ModelCard, read_card

__all__ = ["BenchConfig", "run_bench"]

BASELINES = ("resnet18", "resnet50")


def default_paths() -> tuple[str, ...]:
    """export/ where this folder has one (a clone, a user's project), else the model bundled with the package."""
    from edge_age.formats import bundled_reference

    return ("export",) if Path("export").is_dir() else (str(bundled_reference().parent),)


def discover(paths: tuple[str, ...]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and format_of(f) and f.suffix != ".json"
                            and not any(part.startswith(".") for part in f.relative_to(p).parts))
        else:
            files.append(p)  # missing files become error rows, not a crash
    seen, out = set(), []
    for f in files:
        if f.resolve() not in seen:
            seen.add(f.resolve())
            out.append(f)
    return out


def machine_info(threads: tuple[int, ...]) -> dict[str, Any]:
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model", "Hardware")):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for mod in ("numpy", "onnxruntime", "ai_edge_litert", "tflite_runtime", "cv2"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:
            pass
    if sys.modules.get("torch") is not None:  # imported by this run (baselines), not merely blocked
        versions["torch"] = sys.modules["torch"].__version__
    return {"cpu": cpu, "cores": os.cpu_count(), "machine": platform.machine(), "system": platform.platform(),
            "python": platform.python_version(), "versions": versions, "threads": list(threads)}


def _card(f: Path) -> ModelCard | None:
    """The card beside an exported file; None where it is missing or unreadable (the timing worker then
    reports the bad card on that file's row, and the rest of the table still runs)."""
    try:
        return read_card(f, required=False)
    except EdgeAgeError:
        return None


def _model_name(f: Path) -> str:
    """The model a file belongs to: the card's name, else the file stem."""
    card = _card(f)
    return card.name if card else f.stem


def _static_row(f: Path) -> BenchRow:
    """The row's facts that do not depend on the thread count (params/MACs via ONNX shape inference)."""
    from edge_age.bench.graph import count_params_macs

    fmt = format_of(f)
    row = BenchRow(file=str(f), name=f.name, threads=0, size_mb=f.stat().st_size / 1e6 if f.exists() else None)
    if fmt is None:
        return replace(row, model=f.stem, format="checkpoint" if f.suffix == ".pt" else "?")
    card = _card(f)
    row = replace(row, format=fmt.name, int8=fmt.int8, model=card.name if card else f.stem,
                  trained=bool(card and card.trained))
    stem = f.name[: -len(fmt.suffix)] if f.name.endswith(fmt.suffix) else f.stem
    onnx_src = f if f.suffix == ".onnx" else f.with_name(f"{stem}_fp32.onnx")
    if onnx_src.exists():
        try:
            params, macs = count_params_macs(onnx_src)
            row = replace(row, params=params, macs=macs)
        except Exception:
            pass
    return row


def _run_worker(f: Path, threads: int, cfg: BenchConfig) -> Timing | str:
    """The worker's timing, or why there is none."""
    args = {"file": str(f), "threads": threads, "warmup": cfg.warmup, "runs": cfg.runs,
            "min_seconds": cfg.min_seconds, "batch": cfg.batch_size}
    r = subprocess.run([sys.executable, "-m", "edge_age.bench.worker", json.dumps(args)],
                       capture_output=True, text=True)
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    if not lines:
        return (r.stderr.strip().splitlines() or ["worker failed"])[-1][:300]
    try:
        out = json.loads(lines[-1])
        return str(out["error"]) if "error" in out else Timing(**out)
    except (ValueError, TypeError) as e:  # a garbled worker line is this row's error, not the bench's end
        return f"worker output not understood ({type(e).__name__}: {str(e)[:200]})"


def _accuracy(files: list[Path], cfg: BenchConfig, log: Callable[[str], None]) -> dict[str, Accuracy | str]:
    """MAE/RMSE of each file on the split, scored by the shared evaluate code."""
    from edge_age.data.dataset import config_for_model, load_dataset
    from edge_age.eval.metrics import age_metrics, interval_metrics
    from edge_age.runtime.batch import predict_all
    from edge_age.runtime import load_predictor

    out, datasets = {}, {}
    for f in files:
        try:
            p = load_predictor(f)
            card = getattr(p, "card", None)  # checkpoints have none
            if p.data_config is None or (card is not None and not card.trained):
                continue  # an untrained baseline has no meaningful MAE
            dc = config_for_model(p.data_config, cfg.data, limit=cfg.limit)
            key = (json.dumps(p.spec.cache_key(), sort_keys=True), json.dumps(dc.to_dict(), sort_keys=True))
            if key not in datasets:
                datasets[key] = load_dataset(dc, p.spec, progress=False, splits=(cfg.split,))
            ds = datasets[key]
            idx = ds.indices(cfg.split)
            y, pred = ds.faces.ages[idx], predict_all(p, ds.faces.faces[idx], progress=False)
            a = out[str(f)] = Accuracy.from_metrics({**age_metrics(y, pred), "interval": interval_metrics(p, y, pred)})
            log(f"  {f.name}: MAE {a.mae:.3f} on {a.n} {cfg.split} faces")
        except Exception as e:  # said, and kept in the row: never a silent "not measured", never the end of the bench
            why = str(e) if isinstance(e, EdgeAgeError) else f"{f}: {type(e).__name__}: {str(e)[:200]}"
            log(f"  {f.name}: MAE not measured: {why}")
            out[str(f)] = why
    return out


def run_bench(cfg: BenchConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    files = discover(cfg.paths or default_paths())
    if cfg.baselines:
        from edge_age.export.baselines import ensure_baselines  # needs torch, only on request

        have = {_model_name(f) for f in files if f.exists() and format_of(f)}
        missing = tuple(a for a in BASELINES if a not in have)  # trained exports win over untrained ones
        files += ensure_baselines(Path(cfg.baseline_dir), missing) if missing else []
    if not files:
        raise EdgeAgeError(f"no model files found under {', '.join(cfg.paths or default_paths())}")
    acc = _accuracy([f for f in files if f.exists()], cfg, log) if cfg.data else {}
    peak = {t: measure_peak(t) for t in cfg.threads} if cfg.peak else {}
    rows = []
    for f in files:
        static = _static_row(f)  # once per file, not per thread count
        for t in cfg.threads:
            log(f"  timing {f.name} x {t} thread(s) ...")
            timing = _run_worker(f, t, cfg) if f.exists() else f"{f}: no such model file"
            a = acc.get(str(f))
            row = replace(static, threads=t, timing=timing if isinstance(timing, Timing) else None,
                          error=timing if isinstance(timing, str) else None,
                          accuracy=a if isinstance(a, Accuracy) else None, mae_error=a if isinstance(a, str) else None)
            if row.timing and row.macs:
                row.gmacs = row.macs / (row.timing.p50_ms / 1e3) / 1e9
                pk = peak.get(t, {}).get("int8_gmacs" if row.int8 else "fp32_gmacs")
                row.peak_share = row.gmacs / pk if pk else None
            rows.append(row)
    add_relative_columns(rows)
    photo = _photo_paths(rows, cfg, log) if cfg.data and cfg.photos else {}
    return {"machine": machine_info(cfg.threads), "config": asdict(cfg), "peak": peak,
            "rows": [r.to_dict() for r in rows], "photo_path": photo}


def _photo_paths(rows: list[BenchRow], cfg: BenchConfig, log: Callable[[str], None]) -> dict[str, Any]:
    """The photo path before the model, timed once per distinct card preprocessing (detector, framing, crop) and
    thread count, and each row's photo -> age: that cost plus the row's own model time (medians added, and
    90th percentiles added: the model's time varies little beside the detector's)."""
    from edge_age.bench.photo import photo_path_cost, photos

    if not any(row.timing for row in rows):
        return {}
    faces, empty = photos(cfg.data, cfg.split, cfg.photos)
    out: dict[str, Any] = {}
    for row in rows:
        card = _card(Path(row.file)) if row.timing else None
        if card is None:
            continue
        spec = card.preprocess
        # What the path before the model costs depends on: the detector, the crop (size, interpolation), denoise
        # and deblur (the framing's numbers and the normalisation do not change it).
        key = (f"{spec.framing.detector} {spec.size}px {spec.interpolation}" + " denoise" * spec.denoise
               + " deblur" * spec.deblur + f", {row.threads} thr")
        if key not in out:
            log(f"  timing the photo path (detect, frame, crop) for {key} ...")
            out[key] = photo_path_cost(faces, empty, row.threads, spec)
        row.photo = PhotoAge.of(out[key], row.timing)
    return out


def _family(row: BenchRow) -> str:
    fmt = next((f for f in FORMATS if f.name == row.format), None)
    return fmt.family if fmt else row.format


def add_relative_columns(rows: list[BenchRow]) -> None:
    """Speed-up vs fp32 ResNet18/50 rows (same runtime family and threads); MAE delta vs own fp32 file."""
    def timed_like(row: BenchRow, model: str, int8: bool) -> BenchRow | None:
        return next((r for r in rows if r.model == model and r.int8 == int8 and r.timing
                     and r.threads == row.threads and _family(r) == _family(row)), None)

    for row in rows:
        if row.timing is None:
            continue
        # The seed's model in int8 is the bar a compact model has to clear (issue 6: >= 5x faster).
        for key, ref in [*((base, timed_like(row, base, False)) for base in BASELINES),
                         ("simplecnn_int8", timed_like(row, "simplecnn", True))]:
            row.speedups[key] = ref.timing.p50_ms / row.timing.p50_ms if ref else None
        if row.accuracy is not None:
            fp32 = next((r for r in rows if r.model == row.model and not r.int8 and r.accuracy
                         and _family(r) == _family(row)), None)
            row.mae_delta_vs_fp32 = row.accuracy.mae - fp32.accuracy.mae if fp32 else None
