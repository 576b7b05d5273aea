"""What ``edge-age eval`` and ``edge-age predict`` are asked to do, and their options. Imports no torch.

The options take their defaults from the dataclasses below (declared once), as ``train_config`` does
for training; the library entry points :func:`edge_age.evaluate.evaluate` and
:func:`edge_age.predict.predict` take these configs, never a parsed command line.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_age.cli_types import POSITIVE_INT, SEED, THREADS, default_of, number
from edge_age.data.split import SPLIT_CHOICES


# eval and predict take the same option (edge_age.runtime.flip)
FLIP_AVERAGE_HELP = ("score each face and its mirror image and report the mean of the two estimates "
                     "(two model passes per face; a file exported with --flip-average does this inside)")


@dataclass(frozen=True)
class EvalConfig:
    model: str  # checkpoint, .onnx or .tflite
    data: str | None = None  # default: the dataset the model was trained on
    scheme: str = "auto"
    detect_faces: bool = False
    split: str = "test"
    seed: int | None = None  # split seed (default: the model's training seed)
    limit: int | None = None
    json: str | None = None
    out: str | None = None  # plots, metrics.json, predictions.csv (default: runs/eval/MODELDIR_MODEL_SPLIT)
    report: str | None = None  # folder for the assurance report (report.md + pictures)
    batch_size: int = 64
    threads: int = 0  # 0: all cores (the runtime's default)
    cache_dir: str | None = None
    flip_average: bool = False  # mean of each face's and its mirror image's estimate (two passes)

    def out_dir(self) -> Path:
        # Not next to the model: that may be the committed export/ folder.
        m = Path(self.model)
        return Path(self.out) if self.out else Path("runs") / "eval" / f"{m.parent.name}_{m.stem}_{self.split}"


@dataclass(frozen=True)
class PredictConfig:
    images: tuple[str, ...]
    model: str | None = None  # default: the reference int8 TFLite file bundled with the package
    detect_faces: bool = False
    json: str | None = None
    annotate: str | None = None  # folder for annotated copies
    threads: int = 0  # 0: all cores (the runtime's default)
    max_uncertainty: float | None = None  # abstain when the 80% interval is wider (years)
    min_face: int | None = None  # abstain when the detected face is smaller (pixels, box side)
    flip_average: bool = False  # mean of each face's and its mirror image's estimate (two passes)


def add_eval_args(p: argparse.ArgumentParser) -> None:
    """``eval``'s own options (the data options are shared with ``train``, see ``cli``)."""
    def d(name: str) -> Any:
        return default_of(EvalConfig, name)

    p.add_argument("--split", default=d("split"), choices=SPLIT_CHOICES,
                   help="which split (default: %(default)s; 'all' for a dataset never trained on)")
    p.add_argument("--seed", type=SEED, default=d("seed"), help="split seed (default: the model's training seed)")
    p.add_argument("--limit", type=POSITIVE_INT, default=d("limit"), help="use only N faces (deterministic subset)")
    p.add_argument("--json", type=Path, default=d("json"), help="write metrics as JSON here")
    p.add_argument("--out", type=Path, default=d("out"),
                   help="folder for plots, metrics.json and predictions.csv (one row per face: file name, true "
                        "age, estimate, error, interval) (default: runs/eval/MODELDIR_MODEL_SPLIT)")
    p.add_argument("--report", type=Path, default=d("report"), metavar="DIR",
                   help="also write an assurance report here: report.md with gates, intervals and groups, and plots")
    p.add_argument("--batch-size", type=number(int, 1, 4096), default=d("batch_size"), help="(default: %(default)s)")
    p.add_argument("--threads", type=THREADS, default=d("threads"), help="runtime threads (default: all cores)")
    p.add_argument("--flip-average", action="store_true", help=FLIP_AVERAGE_HELP)


def add_predict_args(p: argparse.ArgumentParser) -> None:
    def d(name: str) -> Any:
        return default_of(PredictConfig, name)

    p.add_argument("images", nargs="+", type=Path, help="image files")
    # The images are the positional arguments here, so the model file is an option (as in bench's
    # positional files and eval/export's positional model, it is a path).
    p.add_argument("--model", type=Path, default=d("model"),
                   help="model file (.tflite, .onnx or .pt; default: the reference int8 model bundled with the package)")
    p.add_argument("--detect-faces", action="store_true", help="find every face (else: the image is one face crop)")
    p.add_argument("--json", type=Path, default=d("json"), help="write results as JSON")
    p.add_argument("--annotate", type=Path, default=d("annotate"),
                   help="write copies with the crop fed to the model and the age into this folder")
    p.add_argument("--max-uncertainty", type=number(float, 0, 200, lo_open=True), default=d("max_uncertainty"),
                   metavar="YEARS", help="abstain (no age) for a face whose 80%% interval is wider than this")
    p.add_argument("--min-face", type=number(int, 1, 100_000), default=d("min_face"), metavar="PX",
                   help="with --detect-faces: abstain for a face whose box is smaller than this")
    p.add_argument("--threads", type=THREADS, default=d("threads"), help="runtime threads (default: all cores)")
    p.add_argument("--flip-average", action="store_true", help=FLIP_AVERAGE_HELP)
