"""``edge-age`` command line: one subcommand per stage.

Heavy imports (torch, matplotlib) happen inside the subcommand that needs them, so ``predict``,
``eval`` on ONNX/TFLite files and ``bench`` start fast and run without torch.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any, Sequence

from edge_age import __version__
from edge_age.cli_types import COUNT, POSITIVE_INT, SEED, Parser, default_of, int_list, number
from edge_age.data.sources import SCHEMES
from edge_age.data.split import SPLITS
from edge_age.errors import EdgeAgeError
from edge_age.formats import FORMATS, families

DEFAULT_DATA_HELP = "folder, .tar/.tar.gz/.zip archive or .csv file (default: $EDGE_AGE_DATA or data/UTKFace.tar.gz)"


# Top-level modules of the `train` extra (setup.cfg): a command that misses one says which extra to install.
TRAIN_EXTRA_MODULES = ("torch", "torchvision", "onnx", "litert_torch", "torchao")


# Choice lists, named once: a --split of a command that scores a dataset ("all": every face).
SPLIT_CHOICES = [*SPLITS, "all"]


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, help=DEFAULT_DATA_HELP)
    p.add_argument("--format", dest="scheme", default="auto", choices=list(SCHEMES),
                   help="how ages are labelled (default: detected)")
    p.add_argument("--detect-faces", action="store_true",
                   help="raw photos: find the largest face (OpenCV Haar cascades) and crop it as the model's "
                        "framing says (box, eyes levelled) first")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="where prepared 128x128 faces are cached (default: $EDGE_AGE_CACHE or ~/.cache/edge-age)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")


def _data_config(args: argparse.Namespace, seed: int = 0, limit: int | None = None):
    from edge_age.data.dataset import DataConfig, default_data
    from edge_age.data.split import SplitConfig

    return DataConfig(path=args.data or default_data(), scheme=args.scheme, detect_faces=args.detect_faces,
                      split=SplitConfig(seed=seed), limit=limit)


def _spec(args: argparse.Namespace, size: int = 128, **kw):
    from edge_age.data.preprocess import PreprocessSpec

    return PreprocessSpec(size=size, denoise=getattr(args, "denoise", False), deblur=getattr(args, "deblur", False),
                          **kw)


def cmd_train(args: argparse.Namespace) -> int:
    from edge_age.models import default_input_size
    from edge_age.train import TrainConfig, train

    size = args.input_size or default_input_size(args.model)
    kwargs = {"input_size": size}
    if args.dropout is not None:
        kwargs["dropout"] = args.dropout
    if args.pretrained:
        kwargs["pretrained"] = True
    if args.head != "regression":
        kwargs["head"] = args.head
    framing, jitter = {}, None
    if args.framing:
        from edge_age.data.framing_fit import load_fit

        framing["framing"], jitter = load_fit(args.framing)
    cfg = TrainConfig(
        model=args.model, out=args.out or f"runs/{args.model}", epochs=args.epochs, batch_size=args.batch_size,
        lr=args.lr, loss=args.loss, patience=args.patience, seed=args.seed, precision=args.precision,
        threads=args.threads, augment=not args.no_augment, model_kwargs=kwargs, max_steps=args.max_steps,
        bn_recalib=args.bn_recalib, jitter=jitter,
    )
    summary = train(cfg, _data_config(args, args.seed, args.limit), _spec(args, size, **framing), resume=args.resume,
                    progress=not args.no_progress, cache_dir=args.cache_dir, command=args.command_line,
                    resume_new_data=args.resume_new_data)
    print(f"best val MAE {summary['best_val_mae']:.3f} at epoch {summary['best_epoch']} -> {cfg.out}/best.pt")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from edge_age.evaluate import evaluate_command

    return evaluate_command(args)


def cmd_export(args: argparse.Namespace) -> int:
    from edge_age.export.config import ExportConfig

    cfg = ExportConfig(
        checkpoint=str(args.checkpoint), out=str(args.out) if args.out else None, name=args.name,
        formats=tuple(f.strip() for f in args.formats.split(",") if f.strip()), int8=args.int8, data=args.data,
        calib_data=args.calib_data, calib_size=args.calib_size, val_limit=args.val_limit,
        allow_degraded=args.allow_degraded, qat_epochs=args.qat_epochs,
    )
    cfg.rows()  # option errors before torch is imported and the data loaded
    from edge_age.export.exporter import export_checkpoint

    card = export_checkpoint(cfg, command=args.command_line, progress=not args.no_progress, cache_dir=args.cache_dir)
    print(f"wrote {len(card['files'])} file(s) and {card['name']}.json to {cfg.out or 'runs/export/' + card['name']}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from edge_age.predict import predict_command

    return predict_command(args)


def cmd_bench(args: argparse.Namespace) -> int:
    from edge_age.bench.harness import BenchConfig, run_bench, to_markdown, write_outputs

    cfg = BenchConfig(
        paths=tuple(args.paths) or ("export",), threads=tuple(args.threads),
        runs=args.runs, warmup=args.warmup, min_seconds=args.min_seconds, batch=args.batch, data=args.data,
        split=args.split, limit=args.limit, baselines=args.baselines, peak=not args.no_peak,
    )
    result = run_bench(cfg)
    result["command"] = args.command_line
    print(to_markdown(result))
    write_outputs(result, args.json, args.md, args.csv, args.plot)
    return 0 if all("error" not in r for r in result["rows"]) else 1


def cmd_data_report(args: argparse.Namespace) -> int:
    from edge_age.data.report import write_report

    write_report(_data_config(args, args.seed, args.limit), args.out, args.seed, args.cache_dir, not args.no_progress)
    return 0


def _wild_config(args: argparse.Namespace):
    from edge_age.data.wild import WildConfig

    return WildConfig(seed=args.seed)


def cmd_data_wild(args: argparse.Namespace) -> int:
    from edge_age.data.wild import wild_command

    return wild_command(_data_config(args, 0, args.limit), args.split, args.out, _wild_config(args),
                        not args.no_progress)


def cmd_data_framing(args: argparse.Namespace) -> int:
    from edge_age.data.framing_fit import fit_command

    r = fit_command(_data_config(args, 0, args.limit), args.split, args.out, _wild_config(args), not args.no_progress)
    s = r["summary"]
    print(f"faces found in {s['found']}/{s['scenes']} scenes, eye pairs in {s['eyes_rate']:.0%} of them")
    print("framing: " + ", ".join(f"{k} {v}" for k, v in r["framing"].items() if k != "fitted_on"))
    for k, v in s["residuals"].items():
        print(f"  residual {k:<8} median {v['median']:+.3f}  5-95%: {v['p05']:+.3f} .. {v['p95']:+.3f}")
    print(f"-> {args.out} (train with --framing {args.out})")
    return 0


def _add_data(sub: Any) -> None:
    """`data report`, `data wild`, `data framing`."""
    data = sub.add_parser("data", help="inspect a dataset").add_subparsers(dest="data_command", required=True)
    rep = data.add_parser("report", help="counts, age histograms, sample grid, bad files and duplicates",
                          description="Scan a labeled face dataset and write report.json/report.md and PNG plots.")
    _add_data_args(rep)
    rep.add_argument("--out", type=Path, default=Path("runs/data_report"), help="output folder (default: %(default)s)")
    rep.add_argument("--seed", type=SEED, default=0, help="split seed (default: %(default)s)")
    rep.add_argument("--limit", type=POSITIVE_INT, default=None, help="use only N faces (deterministic subset)")
    rep.set_defaults(func=cmd_data_report)
    wild_help = ("each chip placed in a 640x480 scene at a random scale (15-60%% of the width), position and "
                 "rotation (+-25 degrees) over a shuffled, blurred background, relit and JPEG-compressed")
    wi = data.add_parser("wild", help="faces in context: a reproducible photo-like test set from aligned chips",
                         description="Write one scene per face of a split, " + wild_help + ", with labels.csv "
                                     "(file_name, age, the chip's square). Score a model on it with "
                                     "`edge-age eval --data DIR/labels.csv --split all --detect-faces`.")
    fr = data.add_parser("framing", help="fit the face framing (detection -> training crop) from data",
                         description="Fit how a detection (box, eye points) maps to the training chips' square: "
                                     "chips of a split are placed in scenes (as `data wild`), the detector runs on "
                                     "each, and the medians of what would frame each chip exactly are kept. Writes "
                                     "the framing and the residual error it leaves as JSON.")
    for p, split, out in ((wi, "test", Path("runs/wild_test")), (fr, "train", Path("runs/framing.json"))):
        p.add_argument("--data", default=None, help=DEFAULT_DATA_HELP)
        p.add_argument("--format", dest="scheme", default="auto", choices=list(SCHEMES),
                       help="how ages are labelled (default: detected)")
        p.add_argument("--split", default=split, choices=SPLIT_CHOICES,
                       help="whose chips (split seed 0, as training; default: %(default)s)")
        p.add_argument("--limit", type=POSITIVE_INT, default=None,
                       help="use only N faces of the dataset (deterministic)")
        p.add_argument("--seed", type=SEED, default=0, help="scene seed (default: %(default)s)")
        p.add_argument("--out", type=Path, default=out, help="(default: %(default)s)")
        p.add_argument("--no-progress", action="store_true", help="no progress bars (logs, CI)")
        p.set_defaults(detect_faces=False)
    wi.set_defaults(func=cmd_data_wild)
    fr.set_defaults(func=cmd_data_framing)


def _add_train(sub: Any) -> None:
    """`train`: options from edge_age.train_config."""
    from edge_age.train_config import add_train_args  # no torch import

    tr = sub.add_parser("train", help="train an age regressor",
                        description="Train an age regressor on labeled faces; writes best.pt, last.pt, metrics.csv, "
                                    "loss.png into --out. Interrupt and re-run with --resume to continue.")
    _add_data_args(tr)
    add_train_args(tr)
    tr.set_defaults(func=cmd_train)


def _add_eval(sub: Any) -> None:
    """`eval`."""
    ev = sub.add_parser("eval", help="score a model (checkpoint, .onnx or .tflite) on a split",
                        description="MAE, RMSE, CS@5, MAE per decade, scatter and decade confusion plots.")
    ev.add_argument("--model", required=True, type=Path, help="best.pt checkpoint (or exported .onnx/.tflite)")
    _add_data_args(ev)
    ev.add_argument("--split", default="test", choices=SPLIT_CHOICES,
                    help="which split (default: %(default)s; 'all' for a dataset never trained on)")
    ev.add_argument("--seed", type=SEED, default=None, help="split seed (default: the model's training seed)")
    ev.add_argument("--limit", type=POSITIVE_INT, default=None, help="use only N faces (deterministic subset)")
    ev.add_argument("--json", type=Path, default=None, help="write metrics as JSON here")
    ev.add_argument("--out", type=Path, default=None, help="folder for plots and metrics.json (default: runs/eval/MODELDIR_MODEL_SPLIT)")
    ev.add_argument("--batch-size", type=number(int, 1, 4096), default=64, help="(default: %(default)s)")
    ev.set_defaults(func=cmd_eval)


def _add_export(sub: Any) -> None:
    """`export`: defaults and choices from ExportConfig and the formats table."""
    from edge_age.export.config import ExportConfig  # torch-free

    ex = sub.add_parser("export", help="export a checkpoint to ONNX and TFLite (fp32, and int8 with --int8)",
                        description="Write NAME_fp32.onnx, NAME_fp32.tflite (and NAME_int8.* with --int8) plus the "
                                    "model card NAME.json; every file is re-run and compared with PyTorch on val.")
    ex.add_argument("--checkpoint", required=True, type=Path, help="runs/NAME/best.pt")
    ex.add_argument("--int8", action="store_true", help="with a family name in --formats: also its int8 file")
    ex.add_argument("--formats", default=",".join(default_of(ExportConfig, "formats")), metavar="LIST",
                    help="comma list of families (" + ", ".join(families()) + ") or single files ("
                         + "; ".join(f"{f.name}: {f.description}" for f in FORMATS) + ") (default: %(default)s)")
    ex.add_argument("--out", type=Path, default=None,
                    help="output folder, replaced as a whole (default: runs/export/NAME; the committed references "
                         "under export/ change only when named here)")
    ex.add_argument("--name", default=None, help="file name stem (default: the model name)")
    ex.add_argument("--data", default=None, help="the checkpoint's dataset, if it moved")
    ex.add_argument("--calib-data", default=None, help="int8 only: calibration faces (default: the training split)")
    ex.add_argument("--calib-size", type=POSITIVE_INT, default=default_of(ExportConfig, "calib_size"),
                    help="int8 only: calibration faces, age-stratified (default: %(default)s)")
    ex.add_argument("--qat-epochs", type=number(float, 0, 100), default=default_of(ExportConfig, "qat_epochs"),
                    metavar="E",
                    help="int8 TFLite only: fine-tune E epochs of the training split with simulated int8, "
                         "distilled from the float model, instead of post-training calibration alone "
                         "(0: off, the default; measurements in benchmarks/export.md)")
    ex.add_argument("--val-limit", type=POSITIVE_INT, default=None,
                    help="prove parity on at most N val faces (default: all)")
    ex.add_argument("--allow-degraded", action="store_true", help="keep int8 files that fail the collapse guard")
    ex.add_argument("--cache-dir", type=Path, default=None)
    ex.add_argument("--no-progress", action="store_true")
    ex.set_defaults(func=cmd_export)


def _add_predict(sub: Any) -> None:
    """`predict` (runtime only)."""
    pr = sub.add_parser("predict", help="ages for image files (runtime only: no torch needed)",
                        description="One line per face: file, box (x,y,w,h), age. With --detect-faces every face "
                                    "is found and framed as the model card says; --json adds the eye points and "
                                    "the crop fed to the model, --annotate draws that crop.")
    pr.add_argument("images", nargs="+", type=Path, help="image files")
    pr.add_argument("--model", type=Path, default=None,
                    help="model file (.tflite, .onnx or .pt; default: the reference int8 model under export/)")
    pr.add_argument("--detect-faces", action="store_true", help="find every face (else: the image is one face crop)")
    pr.add_argument("--json", type=Path, default=None, help="write results as JSON")
    pr.add_argument("--annotate", type=Path, default=None,
                    help="write copies with the crop fed to the model and the age into this folder")
    pr.add_argument("--threads", type=number(int, 1, 1024), default=None,
                    help="runtime threads (default: the runtime's)")
    pr.set_defaults(func=cmd_predict)


def _add_bench(sub: Any) -> None:
    """`bench`."""
    from edge_age.bench.harness import BenchConfig  # torch-free

    be = sub.add_parser("bench", help="latency, size, memory and MAE of model files vs float ResNets",
                        description="Benchmark every model file (default: everything under export/) on each runtime "
                                    "and thread count; speed-ups are against fp32 ResNet18/50 rows of the same run.")
    be.add_argument("paths", nargs="*", help="model files or folders (default: export/)")
    be.add_argument("--baselines", action="store_true",
                    help="add fp32 ResNet18/50 (freshly initialised unless trained ones are among the files; needs torch)")
    be.add_argument("--data", default=None, help="dataset for MAE (omit: latency and size only)")
    be.add_argument("--split", default=default_of(BenchConfig, "split"), choices=SPLIT_CHOICES,
                    help="(default: %(default)s)")
    be.add_argument("--limit", type=POSITIVE_INT, default=None, help="score MAE on at most N faces (deterministic)")
    be.add_argument("--threads", type=int_list(1, 1024), default=default_of(BenchConfig, "threads"),
                    help="comma list of thread counts (default: %(default)s)")
    be.add_argument("--runs", type=POSITIVE_INT, default=default_of(BenchConfig, "runs"),
                    help="minimum timed runs (default: %(default)s)")
    be.add_argument("--warmup", type=COUNT, default=default_of(BenchConfig, "warmup"), help="(default: %(default)s)")
    be.add_argument("--min-seconds", type=number(float, 0, 3600), default=default_of(BenchConfig, "min_seconds"),
                    help="minimum timed seconds per row (default: %(default)s)")
    be.add_argument("--batch", type=number(int, 1, 1024), default=default_of(BenchConfig, "batch"),
                    help="batch for the throughput column (default: %(default)s)")
    be.add_argument("--no-peak", action="store_true", help="skip the peak matmul measurement")
    be.add_argument("--json", type=Path, default=None)
    be.add_argument("--md", type=Path, default=None)
    be.add_argument("--csv", type=Path, default=None)
    be.add_argument("--plot", type=Path, default=None, help="latency-vs-MAE PNG")
    be.set_defaults(func=cmd_bench)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="edge-age",
        description="Facial age estimation from a labeled face dataset to a phone: train, evaluate, export, bench.",
    )
    parser.add_argument("--version", action="version", version=f"edge-age {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)
    _add_data(sub)
    _add_train(sub)
    _add_eval(sub)
    _add_export(sub)
    _add_predict(sub)
    _add_bench(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.command_line = "edge-age " + " ".join(shlex.quote(a) for a in argv)
    try:
        return int(args.func(args) or 0)
    except EdgeAgeError as e:
        if args.debug:
            raise
        print(f"edge-age: error: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:  # an optional dependency (extra) this command needs is not installed
        package = (e.name or "").split(".")[0]
        if args.debug or package in ("", "edge_age"):
            raise
        extra = "train" if package in TRAIN_EXTRA_MODULES else "plot" if package == "matplotlib" else None
        hint = f"pip install 'edge-age[{extra}]'" if extra else f"pip install {package}"
        print(f"edge-age: error: `edge-age {args.command}` needs the Python package {package!r}, "
              f"which is not installed ({hint})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("edge-age: interrupted (completed epochs and files are kept; re-run with --resume)", file=sys.stderr)
        return 130
