"""Plots as PNG files (matplotlib, imported lazily so the runtime install does not need it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from edge_age import fileio


MISSING = "no plots: they need matplotlib (pip install 'edge-age[plot]')"


def available() -> bool:
    return _plt() is not None


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def _save(fig: Any, path: str | Path) -> Path | None:
    with fileio.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    _plt().close(fig)
    return Path(path)


def loss_curves(history: Sequence[dict[str, float]], path: str | Path) -> Path | None:
    plt = _plt()
    if plt is None or not history:
        return None
    ep = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(ep, [h["train_loss"] for h in history], label="train loss")
    ax.plot(ep, [h["train_mae"] for h in history], label="train MAE (augmented)")
    ax.plot(ep, [h["val_mae"] for h in history], label="val MAE")
    ax.set_xlabel("epoch")
    ax.set_ylabel("years")
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def age_histograms(ages_by_split: dict[str, np.ndarray], path: str | Path) -> Path | None:
    plt = _plt()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(7, 4))
    bins = np.arange(0, 122, 2)
    for name, ages in ages_by_split.items():
        if len(ages):
            ax.hist(ages, bins=bins, histtype="step", density=True, label=f"{name} (n={len(ages)})", linewidth=1.5)
    ax.set_xlabel("age (years)")
    ax.set_ylabel("share of split")
    ax.legend()
    ax.grid(alpha=0.3)
    return _save(fig, path)


def face_grid(faces: np.ndarray, labels: Sequence[str], path: str | Path, cols: int = 8) -> Path | None:
    plt = _plt()
    if plt is None or len(faces) == 0:
        return None
    rows = (len(faces) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.3, rows * 1.45), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, face, label in zip(axes.flat, faces, labels):
        ax.imshow(face)
        ax.set_title(label, fontsize=8)
    return _save(fig, path)


def scatter_true_pred(y: np.ndarray, p: np.ndarray, path: str | Path, title: str) -> Path | None:
    plt = _plt()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.scatter(y, p, s=4, alpha=0.35)
    hi = float(max(y.max(), p.max(), 1)) + 2
    ax.plot([0, hi], [0, hi], "k--", linewidth=1)
    ax.set_xlim(0, hi)
    ax.set_ylim(0, hi)
    ax.set_xlabel("true age")
    ax.set_ylabel("predicted age")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def confusion(matrix: np.ndarray, labels: Sequence[str], path: str | Path, title: str) -> Path | None:
    plt = _plt()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(6, 5))
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            if matrix[i, j]:
                ax.text(j, i, str(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if share[i, j] > 0.5 else "black")
    ax.set_xticks(range(len(labels)), labels, rotation=45)
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted decade")
    ax.set_ylabel("true decade")
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label="share of true decade")
    return _save(fig, path)
