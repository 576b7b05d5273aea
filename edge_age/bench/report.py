"""The bench's outputs: the terminal/markdown table, JSON, CSV and the latency-vs-MAE plot. Imports no torch."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from edge_age import fileio


def _fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


# The user's path leads (photo -> age with a face, and what a photo without one costs), then the model alone.
TABLE_COLUMNS = [("model", "model", "s"), ("format", "format", "s"), ("threads", "thr", "d"),
                 ("photo_age_p50_ms", "photo->age p50", ".1f"), ("photo_age_p90_ms", "photo->age p90", ".1f"),
                 ("no_face_p50_ms", "no face p50", ".1f"), ("photo_detector", "detector", "s"), ("size_mb", "MB", ".2f"),
                 ("mae", "MAE", ".3f"), ("p50_ms", "model p50 ms", ".2f"), ("p90_ms", "model p90 ms", ".2f"),
                 ("throughput_ips", "img/s@32", ".0f"), ("peak_rss_mb", "RSS MB", ".0f"),
                 ("speedup_vs_resnet18", "x R18", ".1f"), ("speedup_vs_resnet50", "x R50", ".1f"),
                 ("speedup_vs_simplecnn_int8", "x SCNN8", ".1f"),
                 ("peak_share", "peak %", ".1%"), ("u18_tpr", "<18 TPR", ".2f"), ("u18_fpr", "<18 FPR", ".2f"),
                 ("interval_coverage", "cov80", ".2f")]


def to_markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [f"Machine: {m['cpu']}, {m['cores']} cores, {m['machine']}; "
             + ", ".join(f"{k} {v}" for k, v in m["versions"].items()), ""]
    if result["peak"]:
        lines.append("Peak (ONNX Runtime 1024^3 matmul): " + "; ".join(
            f"{t} thr: fp32 {p['fp32_gmacs']:.0f} GMAC/s, int8 {p['int8_gmacs']:.0f} GMAC/s"
            for t, p in result["peak"].items()))
        lines.append("")
    for key, p in result.get("photo_path", {}).items():
        lines.append(f"Photo path before the model (detect + frame + crop, 640x480, {key}): "
                     f"p50 {p['p50_ms']:.1f} ms, p90 {p['p90_ms']:.1f} ms with a face ({p['found']}/{p['photos']} "
                     f"found); p50 {p['no_face_p50_ms']:.1f} ms for a photo without one (every pass runs). "
                     "photo->age adds each file's model time.")
        lines.append("")
    lines.append("| " + " | ".join(h for _, h, _ in TABLE_COLUMNS) + " |")
    lines.append("|" + "|".join("---" if s == "s" else "---:" for _, _, s in TABLE_COLUMNS) + "|")
    for r in result["rows"]:
        if "error" in r:
            lines.append(f"| {r.get('model', r['name'])} | {r.get('format', '?')} | {r['threads']} | "
                         f"error: {r['error']} |")
            continue
        cells = []
        for key, _, spec in TABLE_COLUMNS:
            v = r.get(key)
            if key == "mae" and v is None:
                cells.append("not measured")
            elif key == "format" and r.get("kernels") == "safe":
                cells.append(f"{v} (safe path: failed its golden check here)")
            else:
                cells.append(_fmt(v, spec) if spec != "s" else ("-" if v is None else str(v)))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_outputs(result: dict[str, Any], json_path: Path | None, md_path: Path | None, csv_path: Path | None,
                  plot_path: Path | None) -> None:
    if json_path:
        fileio.write_json(json_path, result)
    if md_path:
        fileio.write_text(md_path, to_markdown(result))
    if csv_path:
        keys: list[str] = []
        for r in result["rows"]:
            keys += [k for k in r if k not in keys]
        fileio.write_csv(csv_path, [{k: r.get(k) for k in keys} for r in result["rows"]])
    if plot_path and pareto_plot(result, plot_path) is None:
        from edge_age import plots

        print(f"edge-age: {plot_path} not written: "
              + (plots.MISSING if not plots.available() else "no timed row to draw"), file=sys.stderr)


def pareto_plot(result: dict[str, Any], path: Path) -> Path | None:
    from edge_age.plots import _plt, _save

    plt = _plt()
    rows = [r for r in result["rows"] if "p50_ms" in r]
    if plt is None or not rows:
        return None
    threads = min(r["threads"] for r in rows)
    rows = [r for r in rows if r["threads"] == threads]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    seen: dict[str, int] = {}  # one model's files share an MAE: stack their labels instead of overprinting
    for r in rows:
        label = f"{r['model']} {r['format']}"
        if r.get("mae") is None:  # untrained baseline: latency only, drawn as a line
            ax.axvline(r["p50_ms"], linestyle="--", linewidth=1, color="gray")
            ax.text(r["p50_ms"], 0.02, f" {label} (MAE not measured)", rotation=90, fontsize=7,
                    transform=ax.get_xaxis_transform(), va="bottom")
            continue
        ax.scatter(r["p50_ms"], r["mae"], s=max(20, r["size_mb"] * 6), alpha=0.6)
        k = seen[r["model"]] = seen.get(r["model"], -1) + 1
        ax.annotate(label, (r["p50_ms"], r["mae"]), xytext=(6, 12 - 9 * k), textcoords="offset points", fontsize=7)
    ax.set_xscale("log")
    ax.margins(y=0.12)  # room for the stacked labels
    ax.set_xlabel(f"latency p50, ms (batch 1, {threads} thread(s), log scale)")
    ax.set_ylabel("test MAE (years)")
    ax.set_title("Latency vs MAE (marker area ~ file size)")
    ax.grid(alpha=0.3)
    return _save(fig, path)
