"""What ``edge-age predict`` is asked to do, and its options (runtime only: no torch). The options take
their defaults from :class:`PredictConfig` (declared once); :func:`edge_age.runtime.predict.predict` takes
the config, never a parsed command line."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_age.cli_types import POSITIVE_INT, THREADS, default_of, number
from edge_age.runtime.flip import FLIP_AVERAGE_HELP


@dataclass(frozen=True)
class PredictConfig:
    images: tuple[str, ...]
    model: str | None = None  # default: the reference int8 TFLite file bundled with the package
    detect_faces: bool = True  # find every face in a photo; False: each image is one face crop already
    json: str | None = None
    annotate: str | None = None  # folder for annotated copies
    threads: int = 0  # 0: all cores (the runtime's default)
    max_uncertainty: float | None = None  # abstain when the 80% interval is wider (years)
    min_face: int | None = None  # abstain when the detected face is smaller (pixels, box side)
    flip_average: bool = False  # mean of each face's and its mirror image's estimate (two passes)
    framing: str | None = None  # detect and frame with this fit instead of the card's (FRAMING_HELP)


class _DetectionIsDefault(argparse.Action):
    """``--detect-faces`` from before detection was predict's default: still accepted, with a one-line notice."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        print("edge-age: note: predict finds faces by default now (--crops for face crops); --detect-faces goes in "
              "the next release", file=sys.stderr)
        setattr(namespace, self.dest, True)


FRAMING_HELP = ("find and frame faces with this detector's fit instead of the model card's: a bundled one by "
                "detector name (blazeface, mtcnn), a `data framing` folder or its framing.json (the crops then "
                "differ from the model's training crops: for comparing detectors)")


def add_predict_args(p: argparse.ArgumentParser) -> None:
    def d(name: str) -> Any:
        return default_of(PredictConfig, name)

    p.add_argument("images", nargs="*", type=Path, help="image files (or --video / --camera)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--video", metavar="FILE", default=None,
                        help="a video file instead of images: faces found in every frame, tracked from frame to "
                             "frame, each track's age the mean of its last estimates; --json writes JSON lines (one "
                             "per frame, then one per track), --annotate an annotated video (.mp4 or .avi)")
    source.add_argument("--camera", type=number(int, 0, 99), default=None, metavar="N",
                        help="as --video, from camera N (OpenCV's index; Ctrl-C or --max-frames stops it)")
    p.add_argument("--max-frames", type=POSITIVE_INT, default=None, metavar="N",
                   help="with --video/--camera: stop after N frames")
    # The images are the positional arguments here, so the model file is an option (as in bench's
    # positional files and eval/export's positional model, it is a path).
    p.add_argument("--model", type=Path, default=d("model"),
                   help="model file (.tflite, .onnx or .pt; default: the reference int8 model bundled with the package)")
    p.add_argument("--crops", dest="detect_faces", action="store_false",
                   help="each image is one face crop already (aligned chips, the whole image centre-squared): no "
                        "detection (default: every face of each photo is found and framed as the model card says)")
    p.add_argument("--detect-faces", dest="detect_faces", action=_DetectionIsDefault, nargs=0,
                   help=argparse.SUPPRESS)
    p.set_defaults(detect_faces=d("detect_faces"))
    p.add_argument("--json", type=Path, default=d("json"), help="write the results as JSON (- for stdout)")
    p.add_argument("--annotate", type=Path, default=d("annotate"),
                   help="write copies with the crop fed to the model and the age into this folder (with "
                        "--video/--camera: a video file)")
    p.add_argument("--max-uncertainty", type=number(float, 0, 200, lo_open=True), default=d("max_uncertainty"),
                   metavar="YEARS", help="abstain (no age) for a face whose 80%% interval is wider than this")
    p.add_argument("--min-face", type=number(int, 1, 100_000), default=d("min_face"), metavar="PX",
                   help="abstain for a face whose detected box is smaller than this (not with --crops)")
    p.add_argument("--threads", type=THREADS, default=d("threads"), help="runtime threads (default: all cores)")
    p.add_argument("--flip-average", action="store_true", help=FLIP_AVERAGE_HELP)
    p.add_argument("--framing", default=d("framing"), metavar="FIT", help=FRAMING_HELP)
