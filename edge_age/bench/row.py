"""One bench row, typed: a model file at one thread count, what was timed and scored, and the ratios.

Rows are built and related as :class:`BenchRow` and leave the bench as flat dicts (``to_dict``), the
columns of ``bench.json`` / ``.csv`` / ``.md``. Imports no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Timing:
    """What the worker process measured (edge_age.bench.worker)."""

    runtime: str
    load_s: float
    first_ms: float
    runs: int
    mean_ms: float
    std_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    min_ms: float
    throughput_ips: float
    batch: int
    peak_rss_mb: float
    torch_loaded: bool
    kernels: str = "default"  # "safe": this machine failed the file's golden check, its fallback path was timed


@dataclass(frozen=True)
class Accuracy:
    """The file's scores on the bench's split (edge_age.eval.metrics.age_metrics)."""

    mae: float
    rmse: float
    cs5: float
    n: int
    gates: dict[str, float | None]  # u18_tpr, u18_fpr, u25_tpr, u25_fpr
    bands: dict[str, float]  # MAE per age band: "0-12" -> years
    interval_coverage: float | None = None  # share of true ages inside the card's 80% intervals

    @classmethod
    def from_metrics(cls, m: dict[str, Any]) -> "Accuracy":
        return cls(m["mae"], m["rmse"], m["cs5"], m["n"],
                   {f"u{g['threshold']}_{r}": g[r] for g in m["gates"].values() for r in ("tpr", "fpr")},
                   {band: v["mae"] for band, v in m["mae_per_band"].items()},
                   (m.get("interval") or {}).get("coverage"))


@dataclass(frozen=True)
class PhotoAge:
    """Photo -> age for one file: its card's detect + frame + crop on 640x480 photos plus its model time."""

    photo_detector: str
    photo_found: str  # "found/photos"
    photo_age_p50_ms: float
    photo_age_p90_ms: float
    no_face_p50_ms: float
    no_face_p90_ms: float

    @classmethod
    def of(cls, path: dict[str, Any], timing: "Timing") -> "PhotoAge":
        return cls(path["detector"], f"{path['found']}/{path['photos']}", path["p50_ms"] + timing.p50_ms,
                   path["p90_ms"] + timing.p90_ms, path["no_face_p50_ms"], path["no_face_p90_ms"])


@dataclass
class BenchRow:
    file: str
    name: str
    threads: int
    size_mb: float | None = None
    format: str = "?"
    int8: bool = False
    model: str = ""
    trained: bool = False
    params: int | None = None
    macs: int | None = None
    timing: Timing | None = None
    accuracy: Accuracy | None = None
    error: str | None = None  # the file could not be timed
    mae_error: str | None = None  # the file was timed but not scored
    gmacs: float | None = None  # achieved: MACs / p50
    peak_share: float | None = None  # of this core's measured matmul peak
    speedups: dict[str, float | None] = field(default_factory=dict)  # "resnet18" -> its p50 / ours
    mae_delta_vs_fp32: float | None = None
    photo: "PhotoAge | None" = None  # photo -> age with this card's detector (bench --data)

    @property
    def p50_ms(self) -> float | None:
        return self.timing.p50_ms if self.timing else None

    @property
    def mae(self) -> float | None:
        return self.accuracy.mae if self.accuracy else None

    def to_dict(self) -> dict[str, Any]:
        """The flat row of the bench's outputs; fields not measured are left out, the ratios always there."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "timing" and value is not None:
                out.update(vars(value))
            elif f.name == "accuracy" and value is not None:
                out.update(mae=value.mae, rmse=value.rmse, cs5=value.cs5, interval_coverage=value.interval_coverage,
                           **value.gates,
                           **{f"mae_{band}": mae for band, mae in value.bands.items()})
            elif f.name == "photo":
                out.update(vars(value) if value is not None else {})
            elif f.name == "speedups":
                out.update({f"speedup_vs_{base}": ratio for base, ratio in value.items()})
            elif f.name == "mae_delta_vs_fp32":
                if self.accuracy is not None and self.timing is not None:
                    out[f.name] = value
            elif value is not None and f.name not in ("timing", "accuracy"):
                out[f.name] = value
        return out
