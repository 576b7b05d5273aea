"""``edge-age eval --report DIR``: the assurance figures as a page a buyer can read (report.md + PNGs).

Written from the metrics ``eval`` computes (:mod:`edge_age.eval.assurance`, :mod:`edge_age.runtime.intervals`) and
the raw true/estimated ages for the gate curves. Imports no torch; without matplotlib the page is
written without its pictures, and says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from edge_age import fileio, plots


def _ci(c: list[float] | None) -> str:
    return "-" if not c else f"{c[0]:.3f}-{c[1]:.3f}"


def _bar_plot(labels: list[str], values: list[float], errs: list[list[float] | None], path: Path, xlabel: str,
              title: str, ref: float | None = None) -> Path | None:
    plt = plots._plt()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(labels) + 1.5))
    lo = [v - e[0] if e else 0 for v, e in zip(values, errs)]
    hi = [e[1] - v if e else 0 for v, e in zip(values, errs)]
    ax.barh(range(len(labels)), values, xerr=[lo, hi], color="#4a90c2", capsize=3)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.invert_yaxis()
    if ref is not None:
        ax.axvline(ref, color="gray", linestyle="--", linewidth=1)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(axis="x", alpha=0.3)
    return plots._save(fig, path)


def _gate_curves(y: np.ndarray, p: np.ndarray, gates: dict[str, Any], path: Path) -> Path | None:
    """Per gate: the share flagged ("estimated under x") among those under T and among the others, vs x."""
    plt = plots._plt()
    if plt is None:
        return None
    xs = np.linspace(0, 60, 241)
    fig, axes = plt.subplots(1, len(gates), figsize=(3.2 * len(gates), 3.2), sharey=True, squeeze=False)
    for ax, g in zip(axes[0], gates.values()):
        t, pos = g["threshold"], y < g["threshold"]
        ax.plot(xs, [(p[pos] < x).mean() if pos.any() else np.nan for x in xs], label=f"under {t}")
        ax.plot(xs, [(p[~pos] < x).mean() if (~pos).any() else np.nan for x in xs], label=f"{t} or older")
        ax.axvline(t, color="gray", linewidth=1)
        if g.get("buffer_threshold") is not None:
            ax.axvline(g["buffer_threshold"], color="gray", linestyle="--", linewidth=1)
        ax.set_title(f"gate {t} (dashed: 99% buffer)", fontsize=9)
        ax.set_xlabel("flag if estimated age < x")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("share flagged")
    axes[0][0].legend(fontsize=8)
    return plots._save(fig, path)


def write_report(folder: Path, result: dict[str, Any], y: np.ndarray, p: np.ndarray) -> Path:
    """report.md and its pictures in ``folder``; returns the page."""
    m = result["metrics"]
    pics = {
        "mae_by_band.png": _bar_plot(list(m["mae_per_band"]), [v["mae"] for v in m["mae_per_band"].values()],
                                     [None] * len(m["mae_per_band"]), folder / "mae_by_band.png", "MAE (years)",
                                     "MAE by true age band"),
        "gates.png": _gate_curves(np.asarray(y), np.asarray(p), m["gates"], folder / "gates.png"),
    }
    groups = [g for g in (m.get("by_group") or {}).get("groups", []) if "," in g["group"]]
    if groups:
        pics["mae_by_group.png"] = _bar_plot([g["group"] for g in groups], [g["mae"] for g in groups],
                                             [g["mae_ci95"] for g in groups], folder / "mae_by_group.png",
                                             "MAE (years), 95% CI", "MAE by group")
    iv = m.get("interval")
    if iv:
        bands = iv["per_band"]
        pics["interval_coverage.png"] = _bar_plot(list(bands), [b["coverage"] for b in bands.values()],
                                                  [None] * len(bands), folder / "interval_coverage.png",
                                                  "share of true ages inside", f"{iv['level']:.0%} interval coverage "
                                                  "by true age band (dashed: nominal)", ref=iv["level"])
    sources = [result["data"]["path"]] + [a["path"] for a in result["data"].get("also", [])]
    lines = [f"# Age assurance report: {Path(result['model']).name}", "",
             f"Data: {' + '.join(f'`{s}`' for s in sources)} [{result['split']}], {m['n']} faces; MAE {m['mae']:.3f}, bias "
             f"{m['bias']:+.2f}. 95% intervals: 1000 bootstrap resamples (seed 0).", "",
             f"Command: `{result['command']}`", ""]
    lines += (_sources_md(m.get("by_source")) + _gates_md(m) + _interval_md(iv) + _reliability_md(m.get("by_degradation"))
              + _groups_md(m.get("by_group")))
    missing = [name for name, written in pics.items() if written is None]
    lines += [f"![{name}]({name})" for name, written in pics.items() if written is not None]
    if missing:
        lines += ["", f"Not drawn: {', '.join(missing)} ({plots.MISSING})."]
    page = folder / "report.md"
    fileio.write_text(page, "\n".join(lines) + "\n")
    return page


def _sources_md(by_source: dict[str, Any] | None) -> list[str]:
    """Each source beside the pooled figures (data of several sources)."""
    if not by_source:
        return []
    rate = lambda r: "-" if r is None else f"{r:.3f}"  # noqa: E731
    out = ["## Each source", "", "| source | n | MAE | bias | bias 0-12 | bias 13-17 | bias 18-24 | under 18 TPR | "
           "under 18 FPR | Challenge 25 | interval coverage |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for label, m in by_source.items():
        band = lambda b: "-" if b not in m["mae_per_band"] else f"{m['mae_per_band'][b]['bias']:+.2f}"  # noqa: E731
        g, iv = m["gates"].get("under_18", {}), m.get("interval")
        cover = "-" if not iv else f"{iv['coverage']:.3f}"
        out.append(f"| {label} | {m['n']} | {m['mae']:.3f} | {m['bias']:+.2f} | {band('0-12')} | {band('13-17')} | "
                   f"{band('18-24')} | {rate(g.get('tpr'))} | {rate(g.get('fpr'))} | "
                   f"{rate((m.get('challenge_25') or {}).get('tpr'))} | {cover} |")
    return out + [""]


def _gates_md(m: dict[str, Any]) -> list[str]:
    out = ["## Gates: \"estimated under T\"", "",
           "| T | under T | TPR (95% CI) | FPR (95% CI) | buffer: 99% of those under T estimated below | "
           "others the buffer challenges (95% CI) |", "|---:|---:|---|---|---:|---|"]
    for g in m["gates"].values():
        buf = "-" if g.get("buffer_threshold") is None else f"{g['buffer_threshold']:.1f} ({_ci(g['buffer_threshold_ci95'])})"
        cost = "-" if g.get("buffer_fpr") is None else f"{g['buffer_fpr']:.3f} ({_ci(g['buffer_fpr_ci95'])})"
        rate = lambda r: "-" if r is None else f"{r:.3f}"  # noqa: E731
        out.append(f"| {g['threshold']} | {g['positives']} | {rate(g['tpr'])} ({_ci(g['tpr_ci95'])}) | "
                   f"{rate(g['fpr'])} ({_ci(g['fpr_ci95'])}) | {buf} | {cost} |")
    c = m.get("challenge_25") or {}
    if c.get("n"):
        out += ["", f"Challenge 25: {c['tpr']:.3f} ({_ci(c['tpr_ci95'])}) of {c['n']} 13-17-year-olds estimated under 25."]
    return out + [""]


def _interval_md(iv: dict[str, Any] | None) -> list[str]:
    if not iv:
        return ["The model card has no per-face intervals (exported before they existed).", ""]
    out = [f"## Per-face {iv['level']:.0%} intervals", "",
           f"Coverage {iv['coverage']:.3f}, mean width {iv['mean_width']:.1f} years.", "",
           "| true age band | n | coverage |", "|---|---:|---:|"]
    out += [f"| {b} | {v['n']} | {v['coverage']:.3f} |" for b, v in iv["per_band"].items()]
    return out + [""]


def _reliability_md(d: dict[str, Any] | None) -> list[str]:
    """eval --degrade: estimates and intervals per input kind (the same images as they are and degraded)."""
    if not d:
        return []
    out = ["## Reliability per input kind", "",
           f"The same {d['photos']} images spread over the split, as they are and under each photo degradation (whole "
           "image degraded, then the usual detection or crop); width-error Spearman: how well an interval's width "
           "follows the face's error.", "",
           "| input | faces found | MAE | bias | interval coverage | mean width | width-error Spearman | worst true-age band |",
           "|---|---:|---:|---:|---:|---:|---:|---|"]
    for kind, r in d["kinds"].items():
        iv = r.get("interval") or {}
        worst = min(iv.get("per_band", {}).items(), key=lambda b: b[1]["coverage"], default=None)
        rho = iv.get("width_error_spearman")
        out.append(f"| {kind} | {r['found']:.1%} | {r['mae']:.2f} | {r['bias']:+.2f} | "
                   + (f"{iv['coverage']:.3f} | {iv['mean_width']:.1f} | {'-' if rho is None else f'{rho:.2f}'} | "
                      f"{worst[0]}: {worst[1]['coverage']:.2f} (n {worst[1]['n']}) |" if iv else "- | - | - | - |"))
    return out + [""]


def _groups_md(bg: dict[str, Any] | None) -> list[str]:
    if not bg:
        return ["No group attributes in this data (UTKFace-style names carry gender and ethnicity).", ""]
    out = ["## MAE by group", ""]
    if bg.get("worst"):
        out += [f"Worst group (n >= 30): **{bg['worst']}**; best: {bg['best']}; gap {bg['gap']:.2f} years "
                f"({_ci(bg['gap_ci95'])}).", ""]
    out += ["| group | n | MAE (95% CI) | bias |", "|---|---:|---|---:|"]
    out += [f"| {g['group']} | {g['n']} | {g['mae']:.2f} ({_ci(g['mae_ci95'])}) | {g['bias']:+.2f} |"
            for g in bg["groups"]]
    return out + [""]
