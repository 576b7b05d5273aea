"""``edge-age data report|wild|framing``, and the data options every command that reads a dataset shares.

Torch-free: the CLI builds these parsers before any command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edge_age.cli_types import POSITIVE_INT, SEED, add_renamed
from edge_age.data.containers import ARCHIVE_SUFFIXES
from edge_age.data.sources import IMAGE_SUFFIXES, SCHEMES
from edge_age.fileio import Output, Read
from edge_age.data.framing import DETECTORS
from edge_age.data.split import SPLIT_CHOICES

DEFAULT_DATA_HELP = "folder, .tar/.tar.gz/.zip archive or .csv file (default: $EDGE_AGE_DATA or data/UTKFace.tar.gz)"


def add_labels_arg(p: argparse.ArgumentParser) -> None:
    """The label scheme (``--labels``; ``export --formats`` names output files, a different idea)."""
    p.add_argument("--labels", dest="scheme", default="auto", choices=list(SCHEMES),
                   help="how ages are labelled (default: detected)")
    add_renamed(p, "--format", "--labels")


def add_data_args(p: argparse.ArgumentParser, negatable: bool = False) -> None:
    """``negatable``: --detect-faces / --no-detect-faces (train: the recipe sets it, the line may unset it)."""
    p.add_argument("--data", action="append", default=None, metavar="PATH",
                   help=DEFAULT_DATA_HELP + "; give it more than once to use several sources, each split on its own, "
                        "or name a .toml sources file ([[source]] tables: path, labels, detect_faces, weight, name; "
                        "weight = how often a source's training faces are drawn per epoch, default 1)")
    add_labels_arg(p)
    p.add_argument("--detect-faces", action=argparse.BooleanOptionalAction if negatable else "store_true",
                   default=None if negatable else False,
                   help="raw photos: find the largest face (with the detector the model's framing was fitted "
                        "on: BlazeFace for the reference, MTCNN or OpenCV's Haar cascades for other cards) and crop "
                        "it as that framing says (box, eyes levelled) first" + (" (default: the recipe's)" if negatable else ""))
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="where prepared 128x128 faces are cached (default: $EDGE_AGE_CACHE or ~/.cache/edge-age)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")


def data_paths(args: argparse.Namespace) -> list[str]:
    """``--data`` as a list (given once, several times, or not: the default dataset)."""
    from edge_age.data.dataset import default_data

    data = args.data
    return [data] if isinstance(data, (str, Path)) else list(data or [default_data()])


def data_config(args: argparse.Namespace, seed: int = 0, limit: int | None = None):
    from edge_age.data.dataset import sources_config
    from edge_age.data.split import SplitConfig

    return sources_config(data_paths(args), args.scheme, bool(args.detect_faces), SplitConfig(seed=seed), limit)


def data_reads(path: str | Path | list | None) -> list[Read]:
    """What reading a dataset reads: its folder (every file in it) or archive, or a CSV file and the folder it
    names its images from; for several (``--data`` repeated, a sources file) what each of them reads."""
    if not path:
        return []
    if isinstance(path, (list, tuple)):
        return [r for one in path for r in data_reads(one)]
    p = Path(path)
    if p.suffix.lower() == ".toml" and p.is_file():
        from edge_age.data.dataset import read_sources_file

        return [Read(p), *data_reads([s.path for s in read_sources_file(p)])]
    return [Read(p), Read(p.parent, whole=False)] if p.suffix.lower() == ".csv" and p.is_file() else [Read(p)]


def data_kinds() -> dict[str, str]:
    """Suffixes of the dataset files edge-age reads, by what they are (for :func:`edge_age.fileio.check_outputs`)."""
    return {**{s: "an image" for s in IMAGE_SUFFIXES}, **{s: "an archive" for s in ARCHIVE_SUFFIXES}}


def data_files(args: argparse.Namespace) -> tuple[list[Output], list[Read]]:
    """``data report|wild|framing``'s outputs (``--out``: a folder; framing's old spelling, a .json file) and
    what they read, for the check every command's outputs pass (``cli.main``)."""
    from edge_age.data.dataset import default_data

    folder = not (args.data_command == "framing" and args.out.suffix.lower() == ".json")
    outputs = [Output("--out", args.out, folder=folder), Output("--cache-dir", getattr(args, "cache_dir", None), True)]
    framing = getattr(args, "framing", None)
    reads = [Read(Path(framing))] if framing and Path(framing).exists() else []
    return outputs, [*data_reads(args.data or [default_data()]), *reads]


def cmd_data_report(args: argparse.Namespace) -> int:
    from edge_age.data.framing_fit import load_fit
    from edge_age.data.preprocess import PreprocessSpec
    from edge_age.data.report import write_report

    spec = PreprocessSpec(framing=load_fit(args.framing)[0]) if args.framing else PreprocessSpec()
    write_report(data_config(args, args.seed, args.limit), args.out, args.seed, args.cache_dir, not args.no_progress,
                 spec)
    return 0


def _wild_config(args: argparse.Namespace):
    from edge_age.data.wild import WildConfig

    return WildConfig(seed=args.scene_seed)


def cmd_data_wild(args: argparse.Namespace) -> int:
    from edge_age.data.wild import wild_command

    return wild_command(data_config(args, 0, args.limit), args.split, args.out, _wild_config(args),
                        not args.no_progress)


def cmd_data_framing(args: argparse.Namespace) -> int:
    from edge_age.data.framing_fit import fit_command

    out = _fit_file(args.out)
    r = fit_command(data_config(args, 0, args.limit), args.split, out, _wild_config(args), not args.no_progress,
                    args.detector)
    s = r["summary"]
    print(f"faces found in {s['found']}/{s['scenes']} scenes, eye pairs in {s['eyes_rate']:.0%} of them")
    print("framing: " + ", ".join(f"{k} {v}" for k, v in r["framing"].items() if k != "fitted_on"))
    for k, v in s["residuals"].items():
        print(f"  residual {k:<8} median {v['median']:+.3f}  5-95%: {v['p05']:+.3f} .. {v['p95']:+.3f}")
    print(f"-> {out} (train with --framing {args.out})")
    return 0


def _fit_file(out: Path) -> Path:
    """``data framing --out`` names a folder (framing.json inside, as every --out is a folder); a path
    ending in .json is the old spelling, still taken for one release."""
    from edge_age.data.framing_fit import FIT_FILE

    if out.suffix.lower() == ".json":
        print(f"edge-age: note: --out names a folder now ({out.parent / out.stem}/{FIT_FILE}); a .json path "
              "goes in the next release", file=sys.stderr)
        return out
    return out / FIT_FILE


def add_data_commands(sub: Any) -> None:
    """`data report`, `data wild`, `data framing`."""
    data = sub.add_parser("data", help="inspect a dataset").add_subparsers(dest="data_command", required=True)
    rep = data.add_parser("report", help="counts, age histograms, sample grid, bad files and duplicates",
                          description="Scan a labeled face dataset and write report.json/report.md and PNG plots.")
    add_data_args(rep)
    rep.add_argument("--out", type=Path, default=Path("runs/data_report"), help="output folder (default: %(default)s)")
    rep.add_argument("--seed", type=SEED, default=0, help="split seed (default: %(default)s)")
    rep.add_argument("--limit", type=POSITIVE_INT, default=None, help="use only N faces (deterministic subset)")
    rep.add_argument("--framing", default=None, metavar="NAME|DIR|FILE",
                     help="with --detect-faces (or a source's detect_faces): the detector and framing to crop with, "
                          "a bundled fit by name (mtcnn, blazeface) or a `data framing` output (default: mtcnn's)")
    rep.set_defaults(func=cmd_data_report)
    wild_help = ("each chip placed in a 640x480 scene at a random scale (15-60% of the width), position and "
                 "rotation (+-25 degrees) over a shuffled, blurred background, relit and JPEG-compressed")
    wi = data.add_parser("wild", help="faces in context: a reproducible photo-like test set from aligned chips",
                         description="Write one scene per face of a split, " + wild_help + ", with labels.csv "
                                     "(file_name, age, the chip's square). Score a model on it with "
                                     "`edge-age eval --data DIR/labels.csv --split all --detect-faces`.")
    fr = data.add_parser("framing", help="fit the face framing (detection -> training crop) from data",
                         description="Fit how a detection (box, eye points) maps to the training chips' square: "
                                     "chips of a split are placed in scenes (as `data wild`), the detector runs on "
                                     "each, and the medians of what would frame each chip exactly are kept. Writes "
                                     "the framing and the residual error it leaves to OUT/framing.json.")
    for p, split, out in ((wi, "test", Path("runs/wild_test")), (fr, "train", Path("runs/framing"))):
        p.add_argument("--data", default=None, help=DEFAULT_DATA_HELP)
        add_labels_arg(p)
        p.add_argument("--split", default=split, choices=SPLIT_CHOICES,
                       help="whose chips (split seed 0, as training; default: %(default)s)")
        p.add_argument("--limit", type=POSITIVE_INT, default=None,
                       help="use only N faces of the dataset (deterministic)")
        p.add_argument("--scene-seed", type=SEED, default=0,
                       help="seed of the scenes' placement, light and background (default: %(default)s)")
        add_renamed(p, "--seed", "--scene-seed")
        p.add_argument("--out", type=Path, default=out, help="output folder (default: %(default)s)")
        p.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
        p.set_defaults(detect_faces=False)
    fr.add_argument("--detector", default=DETECTORS[0], choices=DETECTORS,
                    help="the face detector to fit for (stored in the framing; every runtime then detects with "
                         "it): mtcnn (eyes on every face), blazeface (MediaPipe's BlazeFace on LiteRT: "
                         "eyes too, several times faster) or haar (OpenCV cascades); default: %(default)s")
    wi.set_defaults(func=cmd_data_wild)
    fr.set_defaults(func=cmd_data_framing)
    for p in (rep, wi, fr):
        p.set_defaults(files=data_files)
