"""Faces in context: aligned chips placed in larger scenes, to measure the photo path reproducibly.

Accuracy on aligned chips says nothing about a photo, where the face must first be found and framed.
``edge-age data wild`` places each chip of one split in a canvas at a random scale (face 15-60% of the
canvas width), position and in-plane rotation (up to +-25 degrees), over a background made from another
image of the same split (tiles shuffled and blurred: no face survives), with mild lighting changes and JPEG compression.
The chip's square in the canvas is known exactly and written beside the label, so the framing can be
fitted and checked against it (:mod:`edge_age.data.framing_fit`). Seeded: the same command writes the
same files.
"""

from __future__ import annotations

import csv
import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import cv2
import numpy as np

from edge_age import fileio
from edge_age.data.framing import Square
from edge_age.data.preprocess import decode_image
from edge_age.data.sources import LabeledSet, Problem, Sample
from edge_age.data.split import stable_hash
from edge_age.errors import EdgeAgeError

if TYPE_CHECKING:
    from edge_age.data.dataset import DataConfig

LABELS = "labels.csv"
TRUTH_COLUMNS = ("face_cx", "face_cy", "face_side", "face_angle")


@dataclass(frozen=True)
class WildConfig:
    canvas: tuple[int, int] = (640, 480)  # width, height: a VGA camera frame
    face_frac: tuple[float, float] = (0.15, 0.60)  # chip side as a fraction of the canvas width
    max_angle: float = 25.0  # degrees, uniform in +-max_angle
    jpeg_quality: tuple[int, int] = (70, 95)
    seed: int = 0


@dataclass(frozen=True)
class Scene:
    image: np.ndarray  # BGR canvas
    truth: Square  # the chip's square in the canvas


def _rng(cfg: WildConfig, name: str) -> np.random.Generator:
    return np.random.default_rng([cfg.seed, stable_hash(cfg.seed, name)])


def _background(rng: np.random.Generator, donor: np.ndarray, w: int, h: int) -> np.ndarray:
    """Another image of the split cut into 4 x 4 tiles, shuffled (no face survives), scaled to the
    canvas and blurred: its colours and textures, none of its structure."""
    n = donor.shape[0] // 4 * 4
    t = n // 4
    tiles = [donor[i * t : (i + 1) * t, j * t : (j + 1) * t] for i in range(4) for j in range(4)]
    order = rng.permutation(16)
    mosaic = np.vstack([np.hstack([tiles[order[4 * i + j]] for j in range(4)]) for i in range(4)])
    canvas = cv2.resize(mosaic, (w, h), interpolation=cv2.INTER_LINEAR)
    return cv2.GaussianBlur(canvas, (0, 0), float(rng.uniform(0.01, 0.04)) * w)


def place(chip: np.ndarray, donor: np.ndarray, rng: np.random.Generator, cfg: WildConfig) -> Scene:
    """One scene: ``chip`` (square BGR) scaled, turned and pasted with feathered edges, then relit."""
    w, h = cfg.canvas
    side = float(rng.uniform(*cfg.face_frac)) * w
    angle = float(rng.uniform(-cfg.max_angle, cfg.max_angle))
    # Keep the face (about the middle 70% of a chip) inside the canvas.
    r = min(0.35 * side, w / 2 - 1, h / 2 - 1)
    cx, cy = float(rng.uniform(r, w - r)), float(rng.uniform(r, h - r))
    truth = Square.turned(cx, cy, side, angle)
    cos, sin = truth.cos, truth.sin
    n = chip.shape[0]
    k = side / n
    # Chip pixel centre (i + 0.5) -> canvas point centre + R k (i + 0.5 - n/2); OpenCV maps pixel centres.
    m = np.array([[k * cos, -k * sin, 0.0], [k * sin, k * cos, 0.0]])
    m[:, 2] = [cx, cy] - m[:, :2] @ [n / 2, n / 2] + m[:, :2] @ [0.5, 0.5] - 0.5
    fg = cv2.warpAffine(chip, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    feather = max(2, n // 40)
    mask = np.zeros((n, n), np.float32)
    mask[feather:-feather, feather:-feather] = 1
    mask = cv2.GaussianBlur(mask, (0, 0), feather / 2)
    alpha = cv2.warpAffine(mask, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)[..., None]
    bg = _background(rng, donor, w, h).astype(np.float32)
    img = fg.astype(np.float32) * alpha + bg * (1 - alpha)
    # Lighting: exposure, contrast, a colour cast and a gamma, all mild.
    gain = rng.uniform(0.75, 1.25) * rng.uniform(0.92, 1.08, 3)
    img = (img - 128) * rng.uniform(0.8, 1.15) + 128
    img = np.clip(img * gain, 0, 255)
    img = 255 * (img / 255) ** rng.uniform(0.8, 1.25)
    return Scene(np.clip(img + 0.5, 0, 255).astype(np.uint8), truth)


def iter_scenes(ls: LabeledSet, samples: Sequence[Sample], cfg: WildConfig,
                problems: list[Problem] | None = None) -> Iterator[tuple[Sample, Scene]]:
    """Scenes for ``samples``; each background comes from the image read before it (same split). A source that
    cannot be read, decoded or placed is appended to ``problems`` (named, with why), never dropped silently."""
    problems = [] if problems is None else problems
    donor: np.ndarray | None = None
    for s, (_, data) in zip(samples, ls.container.read_many(s.name for s in samples)):
        try:
            if isinstance(data, Exception):
                raise data
            chip = decode_image(data, ls.display(s.name))
            if chip.shape[0] != chip.shape[1]:
                side = min(chip.shape[:2])
                chip = chip[:side, :side]
            scene = place(chip, chip[::-1] if donor is None else donor, _rng(cfg, s.name), cfg)
        except Exception as e:  # noqa: BLE001 -- any bad source is a named problem of that source
            problems.append(Problem(ls.display(s.name), _why(e, ls.display(s.name))))
            continue
        yield s, scene
        donor = chip


def _why(e: Exception, where: str) -> str:
    """An exception's message without the file name it may already lead with."""
    text = str(e).strip() or type(e).__name__
    return text[len(where) + 2:] if text.startswith(f"{where}: ") else text


def write_wild(ls: LabeledSet, samples: Sequence[Sample], out: Path, cfg: WildConfig,
               progress: bool = True, problems: list[Problem] | None = None) -> int:
    """Write one JPEG per sample and ``labels.csv`` (file_name, age, the chip's square) into ``out``; each
    sample that gives no scene is appended to ``problems``."""
    from tqdm import tqdm

    problems = [] if problems is None else problems
    rows = []
    scenes = iter_scenes(ls, samples, cfg, problems)
    for s, scene in tqdm(scenes, total=len(samples), disable=not progress, desc="scenes", unit="img"):
        name = f"{len(rows):05d}.jpg"
        q = int(_rng(cfg, name).integers(cfg.jpeg_quality[0], cfg.jpeg_quality[1] + 1))
        ok, buf = cv2.imencode(".jpg", scene.image, [cv2.IMWRITE_JPEG_QUALITY, q])
        if not ok:
            problems.append(Problem(ls.display(s.name), "its scene could not be encoded as JPEG"))
            continue
        fileio.write_bytes(out / name, buf.tobytes())
        t = scene.truth
        rows.append([name, f"{s.age:g}", f"{t.cx:.3f}", f"{t.cy:.3f}", f"{t.side:.3f}", f"{t.angle:.3f}"])
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(["file_name", "age", *TRUTH_COLUMNS])
    writer.writerows(rows)
    fileio.write_text(out / LABELS, text.getvalue())
    return len(rows)


def read_truth(labels: Path) -> dict[str, Square]:
    """The chip squares ``write_wild`` recorded, by file name."""
    out = {}
    with open(labels, newline="") as f:
        for row in csv.DictReader(f):
            out[row["file_name"]] = Square.turned(float(row["face_cx"]), float(row["face_cy"]),
                                                  float(row["face_side"]), float(row["face_angle"]))
    return out


def scene_names(folder: Path, n: int) -> set[str]:
    """The files a set of ``n`` scenes in ``folder`` owns: ``labels.csv`` and the scenes, old and new (a folder
    shared with other files keeps those)."""
    old = {p.name for p in folder.glob("*.jpg") if re.fullmatch(r"\d{5}\.jpg", p.name)} if folder.is_dir() else set()
    return {LABELS, *old, *(f"{k:05d}.jpg" for k in range(n))}


def wild_command(cfg: "DataConfig", split: str, out: Path, wild: WildConfig, progress: bool) -> int:
    """``edge-age data wild``: the scenes of one split, written to ``out`` with ``labels.csv``, replacing the
    previous set as a whole (an interrupted run leaves it as it was, never a labels.csv of other scenes)."""
    from edge_age.data.dataset import split_samples

    ls, samples = split_samples(cfg, split)
    problems: list[Problem] = []
    with fileio.staged_folder(out, scene_names(out, len(samples)), index=LABELS) as staging:
        n = write_wild(ls, samples, staging, wild, progress, problems)
        if n == 0:  # raised inside: the previous set stays as it was
            raise EdgeAgeError(f"no scene could be made: none of the {len(samples)} {split} images could be read "
                               f"(first: {problems[0] if problems else 'unknown'})", cfg.path)
    print(f"wrote {n} scenes of the {split} split and {LABELS} to {out}")
    report_skipped([*ls.problems, *problems])
    print(next_step(split, cfg.path, out))
    return 0


def report_skipped(problems: Sequence[Problem]) -> None:
    """Name and count every item left out: bad labels, archive members refused, sources that gave no scene."""
    if problems:
        print(f"skipped {len(problems)} item(s) with problems:", file=sys.stderr)
        for p in problems:
            print(f"  {p}", file=sys.stderr)


def next_step(split: str, data: str, out: Path) -> str:
    """What the scenes of ``split`` are for: a model's score on the photo path (held-out splits), or training
    material (the train split: a model trained on these faces would score on what it learnt)."""
    import shlex

    score = f"edge-age eval MODEL --data {shlex.quote(str(out / LABELS))} --split all --detect-faces"
    if split == "train":
        return ("these are training material, not a test set (a model trained on this split has seen these faces): "
                f"train on the photo path with python scripts/path_training.py --data {shlex.quote(str(data))} "
                f"--scenes {shlex.quote(str(out))} --out runs/path_train; to score a model, make the test split's "
                f"scenes: edge-age data wild --data {shlex.quote(str(data))} --split test")
    if split == "all":
        return (f"score a model on them: {score} (the all split holds the train faces too, so a trained model "
                "scores optimistically; --split test gives a held-out score)")
    return f"score a model on them: {score}"
