"""What ``edge-age eval`` is asked to do, and its options. Imports no torch.

The options take their defaults from the dataclass below (declared once), as ``train.config`` does
for training; the library entry point :func:`edge_age.eval.evaluate.evaluate` takes this config,
never a parsed command line.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_age.cli_types import POSITIVE_INT, SEED, THREADS, default_of, number
from edge_age.data.split import SPLIT_CHOICES
from edge_age.runtime.flip import FLIP_AVERAGE_HELP
from edge_age.runtime.predict_config import FRAMING_HELP


@dataclass(frozen=True)
class EvalConfig:
    model: str  # checkpoint, .onnx or .tflite
    data: tuple[str, ...] | list[str] | str | None = None  # default: the data the model was trained on (several: each source)
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
    framing: str | None = None  # with --detect-faces: detect and frame with this fit instead of the card's
    degrade: bool = False  # also the split's photos under each photo degradation: a reliability table per kind
    degrade_limit: int = 600  # photos per degradation, spread over the split

    def out_dir(self) -> Path:
        # Not next to the model: that may be the committed export/ folder.
        m = Path(self.model)
        return Path(self.out) if self.out else Path("runs") / "eval" / f"{m.parent.name}_{m.stem}_{self.split}"


def add_eval_args(p: argparse.ArgumentParser) -> None:
    """``eval``'s own options (the data options are shared with ``train``, see ``cli``)."""
    def d(name: str) -> Any:
        return default_of(EvalConfig, name)

    p.add_argument("--split", default=d("split"), choices=SPLIT_CHOICES,
                   help="which split (default: %(default)s; 'all' for a dataset never trained on)")
    p.add_argument("--seed", type=SEED, default=d("seed"), help="split seed (default: the model's training seed)")
    p.add_argument("--limit", type=POSITIVE_INT, default=d("limit"), help="use only N faces (deterministic subset)")
    p.add_argument("--json", type=Path, default=d("json"), help="write the metrics as JSON here (- for stdout)")
    p.add_argument("--out", type=Path, default=d("out"),
                   help="folder for plots, metrics.json and predictions.csv (one row per face: file name, true "
                        "age, estimate, error, interval) (default: runs/eval/MODELDIR_MODEL_SPLIT)")
    p.add_argument("--report", type=Path, default=d("report"), metavar="DIR",
                   help="also write an assurance report here: report.md with gates, intervals and groups, and plots")
    p.add_argument("--batch-size", type=number(int, 1, 4096), default=d("batch_size"), help="(default: %(default)s)")
    p.add_argument("--threads", type=THREADS, default=d("threads"), help="runtime threads (default: all cores)")
    p.add_argument("--flip-average", action="store_true", help=FLIP_AVERAGE_HELP)
    p.add_argument("--framing", default=d("framing"), metavar="FIT", help="with --detect-faces: " + FRAMING_HELP)
    p.add_argument("--degrade", action="store_true",
                   help="also score the split's images under each photo degradation (grey, sepia, low resolution, "
                        "JPEG 15, grain, dark, motion blur; whole images degraded, then detection or the crop as "
                        "usual): MAE, bias and interval coverage, width and width-error correlation per kind")
    p.add_argument("--degrade-limit", type=POSITIVE_INT, default=d("degrade_limit"),
                   help="images per degradation, spread over the split (default: %(default)s)")
