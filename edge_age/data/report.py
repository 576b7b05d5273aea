"""``edge-age data report``: what is in a dataset before anyone trains on it.

Counts per split, age histograms per split, a grid of sample faces, every unparsable name and
unreadable file, and exact (same bytes) and near (same perceptual hash of the 128x128 crop)
duplicates -- the usual reasons a model looks better or worse than it is. Over several sources, the
near-identical faces across them too: one face in the train split of one source and the test split
of another is a leak that no per-source split can see.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from edge_age import fileio, plots
from edge_age.data.dataset import DataConfig, Dataset, load_dataset
from edge_age.data.preprocess import PreprocessSpec
from edge_age.data.split import SPLITS, stable_hash


def dhash(face: np.ndarray) -> int:
    """64-bit difference hash: robust to re-encoding and small resizes, not to crops or flips."""
    gray = cv2.cvtColor(np.ascontiguousarray(face), cv2.COLOR_RGB2GRAY)
    small = cv2.resize(gray, (9, 8), interpolation=cv2.INTER_AREA).astype(np.int16)
    bits = (small[:, 1:] > small[:, :-1]).flatten()
    return int(np.packbits(bits).view(">u8")[0])


def find_duplicates(ds: Dataset) -> tuple[list[list[str]], list[list[str]]]:
    """(exact groups, near groups) of display names; a near group holds files of different bytes."""
    by_sha: dict[str, list[int]] = defaultdict(list)
    for i, sha in enumerate(ds.faces.sha1):
        by_sha[sha].append(i)
    exact = [g for g in by_sha.values() if len(g) > 1]
    by_hash: dict[int, list[int]] = defaultdict(list)
    for i in range(len(ds.faces)):
        by_hash[dhash(ds.faces.faces[i])].append(i)
    near = [g for g in by_hash.values() if len({ds.faces.sha1[i] for i in g}) > 1]
    name = ds.labeled.display
    return ([[name(ds.faces.names[i]) for i in g] for g in exact],
            [[name(ds.faces.names[i]) for i in g] for g in near])


# Faces of two sources whose 8x8 grey thumbnails (zero mean, unit length) have at least this cosine are one face.
# Measured on UTKFace against All-Age-Faces (lab/aaf/README.md): a re-encoded, resized copy shifted by 1 px scores
# >= 0.989 in 98% of cases, while 99.9% of UTKFace faces have no AAF face above 0.974. A difference hash cannot
# do this: framed faces share their gradients (111,523 cross-source pairs within 6 of 64 bits). A copy framed
# 3 px apart falls to 0.91 and is missed: this finds re-encoded copies, not every re-cropped one.
CROSS_SOURCE_COSINE = 0.985


def thumbnail(face: np.ndarray) -> np.ndarray:
    """The face's 8x8 grey thumbnail, zero mean and unit length (64 float32)."""
    gray = cv2.cvtColor(np.ascontiguousarray(face), cv2.COLOR_RGB2GRAY)
    t = cv2.resize(gray, (8, 8), interpolation=cv2.INTER_AREA).astype(np.float32).ravel()
    t -= t.mean()
    return t / max(float(np.linalg.norm(t)), 1e-6)


def cross_source_duplicates(ds: Dataset, min_cosine: float = CROSS_SOURCE_COSINE) -> dict[str, Any] | None:
    """Pairs of near-identical faces from different sources (None for one source), each with both splits; a
    pair whose splits differ (train in one, val or test in the other) is counted as a leak."""
    if ds.source is None:
        return None
    thumbs = np.stack([thumbnail(f) for f in ds.faces.faces])
    pairs: list[tuple[int, int, float]] = []
    for a in range(len(ds.source_labels)):
        rows_a = np.flatnonzero(ds.source == a)
        rows_b = np.flatnonzero(ds.source > a)
        for start in range(0, len(rows_a), 2048):  # 2048 x N similarities at a time: bounded memory
            chunk = rows_a[start:start + 2048]
            sim = thumbs[chunk] @ thumbs[rows_b].T
            for i, j in zip(*np.nonzero(sim >= min_cosine)):
                pairs.append((int(chunk[i]), int(rows_b[j]), round(float(sim[i, j]), 4)))
    name = lambda i: f"{ds.faces.names[i]} [{ds.split[i]}]"  # noqa: E731
    leaks = sum(1 for i, j, _ in pairs if ds.split[i] != ds.split[j])
    return {"min_cosine": min_cosine, "pairs": len(pairs), "leaks": leaks,
            "examples": [[name(i), name(j), c] for i, j, c in sorted(pairs, key=lambda t: -t[2])[:200]]}


def build_report(ds: Dataset) -> dict[str, Any]:
    exact, near = find_duplicates(ds)
    ages = ds.faces.ages
    per_split = {}
    for s in SPLITS:
        a = ages[ds.indices(s)]
        per_split[s] = {"n": int(a.size), "age_mean": float(a.mean()) if a.size else None,
                        "age_min": float(a.min()) if a.size else None, "age_max": float(a.max()) if a.size else None}
    sources = [s.path for s in ds.config.sources()]
    return {
        "data": " + ".join(sources),
        **({"sources": dict(zip(ds.source_labels, sources))} if ds.source is not None else {}),
        "cross_source_duplicates": cross_source_duplicates(ds),
        "scheme": ds.labeled.scheme,
        "labeled": len(ds.labeled.samples),
        "readable": len(ds.faces),
        "splits": per_split,
        "label_problems": [str(p) for p in ds.labeled.problems],
        "unreadable": [str(p) for p in ds.faces.problems],
        "multiple_faces": [ds.labeled.display(n) for n, k in zip(ds.faces.names, ds.faces.n_faces) if k > 1],
        "exact_duplicates": exact,
        "near_duplicates": near,
    }


def to_markdown(r: dict[str, Any]) -> str:
    lines = [f"# Data report: `{r['data']}`", "", f"- labelling scheme: **{r['scheme']}**",
             f"- labeled images: {r['labeled']}, readable: {r['readable']}",
             f"- unparsable names / bad labels: {len(r['label_problems'])}",
             f"- unreadable files: {len(r['unreadable'])}",
             f"- exact duplicate groups: {len(r['exact_duplicates'])}, near duplicate groups: {len(r['near_duplicates'])}",
             *_cross_md(r.get("cross_source_duplicates")),
             "", "| split | n | mean age | min | max |", "|---|---:|---:|---:|---:|"]
    for s, v in r["splits"].items():
        fmt = lambda x: "-" if x is None else f"{x:.1f}"  # noqa: E731
        lines.append(f"| {s} | {v['n']} | {fmt(v['age_mean'])} | {fmt(v['age_min'])} | {fmt(v['age_max'])} |")
    for key, title in (("label_problems", "Unparsable names and bad labels"), ("unreadable", "Unreadable files")):
        if r[key]:
            lines += ["", f"## {title}", ""] + [f"- {x}" for x in r[key][:200]]
    for key, title in (("exact_duplicates", "Exact duplicates"), ("near_duplicates", "Near duplicates")):
        if r[key]:
            lines += ["", f"## {title}", ""] + [f"- {', '.join(g)}" for g in r[key][:200]]
    cross = r.get("cross_source_duplicates")
    if cross and cross["examples"]:
        lines += ["", "## The same face in two sources", ""] + [f"- {a}, {b} (cosine {c:.3f})"
                                                             for a, b, c in cross["examples"]]
    return "\n".join(lines) + "\n"


def _cross_md(cross: dict[str, Any] | None) -> list[str]:
    if cross is None:
        return []
    return [f"- the same face in two sources (8x8 grey thumbnails at cosine >= {cross['min_cosine']}): "
            f"{cross['pairs']} pair(s), {cross['leaks']} of them on different splits (a leak)"]


def write_report(cfg: DataConfig, out: Path, seed: int = 0, cache_dir: Path | None = None,
                 progress: bool = True, spec: PreprocessSpec | None = None) -> dict[str, Any]:
    """Scan ``cfg``'s dataset (faces prepared as ``spec`` says; default 128 px) and write report.json, report.md,
    age_histogram.png and samples.png."""
    ds = load_dataset(cfg, spec or PreprocessSpec(), cache_dir=cache_dir, progress=progress)
    r = build_report(ds)
    fileio.write_json(out / "report.json", r)
    fileio.write_text(out / "report.md", to_markdown(r))
    plots.age_histograms({s: ds.faces.ages[ds.indices(s)] for s in SPLITS}, out / "age_histogram.png")
    pick = sorted(range(len(ds.faces)), key=lambda i: stable_hash(seed, ds.faces.names[i]))[:32]
    plots.face_grid(np.asarray([ds.faces.faces[i] for i in pick]),
                    [f"{ds.faces.ages[i]:g}" for i in pick], out / "samples.png")
    print(to_markdown(r).split("\n## ")[0].rstrip())
    print(f"\nwrote {out}/report.json, report.md, age_histogram.png, samples.png")
    return r
