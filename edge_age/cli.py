"""``edge-age`` command line: one subcommand per stage.

Heavy imports (torch, matplotlib) happen inside the subcommand that needs them, so ``predict``,
``eval`` on ONNX/TFLite files and ``bench`` start fast and run without torch.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import Any, Iterator, Sequence

from edge_age import __version__, fileio
from edge_age.cli_types import Parser, add_artifact, config_from_args, resolve_artifact
from edge_age.data.commands import add_data_args, add_data_commands, data_config, data_kinds, data_reads
from edge_age.errors import EdgeAgeError
from edge_age.fileio import Output, Read
from edge_age.formats import bundled_reference, model_files, read_kinds
from edge_age.quiet import VERBOSE_ENV, quiet_libraries



# Top-level modules of the `train` extra (setup.cfg): a command that misses one says which extra to install.
TRAIN_EXTRA_MODULES = ("torch", "torchvision", "onnx", "litert_torch", "torchao")


def _say(args: argparse.Namespace) -> Any:
    """Where a command's human lines go: stderr when an output option (``--json -``, bench's ``--md -`` or
    ``--csv -``) puts a file's content on stdout."""
    outputs = (getattr(args, name, None) for name in ("json", "md", "csv"))
    return sys.stderr if any(fileio.is_stdout(o) for o in outputs) else sys.stdout


def cmd_train(args: argparse.Namespace) -> int:
    from edge_age.train.config import train_job
    from edge_age.train.loop import train

    cfg, data, spec, resolved = train_job(args)
    if cfg.recipe:
        print(f"recipe {cfg.recipe}: {resolved}")
    summary = train(cfg, data, spec, resume=args.resume, progress=not args.no_progress, cache_dir=args.cache_dir,
                    command=resolved, resume_new_data=args.resume_new_data)
    print(f"best val MAE {summary['best_val_mae']:.3f} at epoch {summary['best_epoch']} -> {cfg.out}/best.pt")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from edge_age.eval.config import EvalConfig
    from edge_age.eval.evaluate import evaluate

    say = _say(args)
    evaluate(config_from_args(EvalConfig, args), progress=not args.no_progress, command=args.command_line,
             log=lambda line: print(line, file=say))
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from edge_age.eval.calibrate import CalibrateConfig, calibrate

    cfg = config_from_args(CalibrateConfig, args, data=tuple(args.data or ()), photos=tuple(args.photos or ()))
    calibrate(cfg, command=args.command_line, progress=not args.no_progress)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from edge_age.export.config import export_config

    cfg = export_config(args)
    cfg.rows()  # option errors before torch is imported and the data loaded
    from edge_age.export.exporter import export_checkpoint

    card = export_checkpoint(cfg, command=args.command_line, progress=not args.no_progress, cache_dir=args.cache_dir)
    print(f"wrote {len(card.files)} file(s) and {card.name}.json to {cfg.out or 'runs/export/' + card.name}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from edge_age.runtime.predict import predict
    from edge_age.runtime.predict_config import PredictConfig

    if args.video is not None or args.camera is not None:
        return _predict_video(args)
    if not args.images:
        raise EdgeAgeError("predict needs image files, --video FILE or --camera N")
    cfg = config_from_args(PredictConfig, args, images=tuple(map(str, args.images)))
    result = predict(cfg)
    return 0 if result["failed"] < len(cfg.images) else 2  # non-zero only when no image could be scored


def _predict_video(args: argparse.Namespace) -> int:
    from edge_age.runtime.video import VideoConfig, track_video

    if args.images:
        raise EdgeAgeError("give image files or --video/--camera, not both")
    photo_only = [o for o, v in (("--crops", not args.detect_faces), ("--max-uncertainty", args.max_uncertainty),
                                  ("--min-face", args.min_face), ("--flip-average", args.flip_average)) if v]
    if photo_only:
        raise EdgeAgeError(f"{', '.join(photo_only)} does not apply to --video/--camera")
    source = args.video if args.video is not None else str(args.camera)
    say = _say(args)
    result = track_video(config_from_args(VideoConfig, args, source=source),
                         log=lambda line: print(line, file=say))
    return 130 if result["interrupted"] else 0


def cmd_models(args: argparse.Namespace) -> int:
    from edge_age.runtime.catalog import format_models, list_models

    rows = list_models(tuple(args.folders))
    print(format_models(rows), file=_say(args))
    if args.json:
        fileio.write_json(args.json, {"models": rows})
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from edge_age.runtime.check import check_files, format_checks

    rows = check_files([str(m) for m in args.models], threads=args.threads)
    print(format_checks(rows), file=_say(args))
    if args.json:
        fileio.write_json(args.json, {"checks": rows})
    return 0 if all(r.get("usable", True) for r in rows) else 1


def cmd_bench(args: argparse.Namespace) -> int:
    from edge_age.bench.config import BenchConfig
    from edge_age.bench.harness import run_bench
    from edge_age.bench.report import to_markdown, write_outputs

    cfg = config_from_args(BenchConfig, args, paths=tuple(args.paths), peak=not args.no_peak)
    if sum(fileio.is_stdout(p) for p in (args.json, args.md, args.csv)) > 1:
        raise EdgeAgeError("only one of --json, --md and --csv can be - (standard output)")
    say = _say(args)
    result = run_bench(cfg, log=lambda line: print(line, file=say))
    result["command"] = args.command_line
    print(to_markdown(result), file=say)
    write_outputs(result, args.json, args.md, args.csv, args.plot)
    written = [str(p) for p in (args.json, args.md, args.csv, args.plot) if p is not None and p.exists()]
    if written:
        print("wrote " + ", ".join(written), file=say)
    return 0 if all("error" not in r for r in result["rows"]) else 1


# What each command writes and reads, for the one check every output passes before any work (fileio.check_outputs,
# called by main): an output may never be an input, a model file or its card, nor lie inside a folder the command
# reads. Each parser names its function with set_defaults(files=...); data's are in edge_age.data.commands.
Files = tuple[list[Output], list[Read]]


def _models_read(paths: Sequence[Path | str] | None) -> list[Read]:
    """Model files (each with its card) and model folders; none named: the bundled reference."""
    return [Read(f) for m in (paths or [bundled_reference()]) for f in model_files(m)]


def _cache(args: argparse.Namespace) -> Output:
    return Output("--cache-dir", getattr(args, "cache_dir", None), folder=True)


def _train_files(args: argparse.Namespace) -> Files:
    others = [Read(p) for p in (args.framing, args.teacher, args.recipe) if p and Path(p).exists()]
    return [Output("--out", args.out, folder=True), _cache(args)], [*data_reads(args.data), *others]


def _eval_files(args: argparse.Namespace) -> Files:
    from edge_age.eval.config import EvalConfig

    out = EvalConfig(str(args.model), split=args.split, out=args.out and str(args.out)).out_dir()
    outputs = [Output("--json", args.json), Output("--out", out, folder=True),
               Output("--report", args.report, folder=True), _cache(args)]
    return outputs, [*_models_read([args.model]), *data_reads(args.data), *_framing_read(args)]


def _framing_read(args: argparse.Namespace) -> list[Read]:
    return [Read(args.framing)] if getattr(args, "framing", None) and Path(args.framing).exists() else []


def _calibrate_files(args: argparse.Namespace) -> Files:
    from edge_age.eval.calibrate import card_files

    model = Path(args.model)
    models = [Read(f) for m in (card_files(model)[1] if model.exists() else [model]) for f in model_files(m)]
    return [Output("--out", args.out, folder=True), _cache(args)], [*models, *data_reads(args.data),
                                                                     *data_reads(args.photos)]


def _export_files(args: argparse.Namespace) -> Files:
    framing = [Read(args.framing)] if args.framing and Path(args.framing).exists() else []
    reads = [Read(args.checkpoint), *data_reads(args.data), *data_reads(args.calib_data), *framing]
    return [Output("--out", args.out, folder=True), _cache(args)], reads


def _predict_files(args: argparse.Namespace) -> Files:
    video = args.video is not None or args.camera is not None
    outputs = [Output("--json", args.json), Output("--annotate", args.annotate, folder=not video)]
    inputs = [Read(p) for p in (*args.images, *([args.video] if args.video else []))]
    return outputs, [*inputs, *_models_read([args.model] if args.model else None), *_framing_read(args)]


def _bench_files(args: argparse.Namespace) -> Files:
    from edge_age.data.sources import IMAGE_SUFFIXES

    outputs = [Output("--json", args.json), Output("--md", args.md), Output("--csv", args.csv),
               Output("--plot", args.plot, writes=IMAGE_SUFFIXES)]
    models = [Read(f) for p in args.paths for f in ((p,) if Path(p).is_dir() else model_files(p))]
    return outputs, [*models, *data_reads(args.data)]


def _models_files(args: argparse.Namespace) -> Files:
    return [Output("--json", args.json)], [Read(f) for f in args.folders]


def _check_files(args: argparse.Namespace) -> Files:
    return [Output("--json", args.json)], _models_read(args.models)


def _add_train(sub: Any) -> None:
    """`train`: options from edge_age.train.config."""
    from edge_age.train.config import add_train_args  # no torch import

    tr = sub.add_parser("train", help="train an age regressor",
                        description="Train an age regressor on labeled faces, from a named recipe (default: the "
                                    "reference model on photos) with any option overridden; writes best.pt, last.pt, "
                                    "metrics.csv, loss.png into --out. Interrupt and re-run with --resume to continue.")
    add_data_args(tr, negatable=True)
    add_train_args(tr)
    tr.set_defaults(func=cmd_train, files=_train_files)


def _add_eval(sub: Any) -> None:
    """`eval`: options from edge_age.eval.config."""
    from edge_age.eval.config import add_eval_args

    ev = sub.add_parser("eval", help="score a model (checkpoint, .onnx or .tflite) on a split",
                        description="MAE, RMSE, CS@5, MAE per decade and age band, under-18/25 gate rates, "
                                    "scatter and decade confusion plots.")
    add_artifact(ev, "model", "MODEL", "best.pt checkpoint, or an exported .onnx/.tflite file", "--model")
    add_data_args(ev)
    add_eval_args(ev)
    ev.set_defaults(func=cmd_eval, files=_eval_files)


def _add_calibrate(sub: Any) -> None:
    """`calibrate`: options from edge_age.eval.calibrate."""
    from edge_age.eval.calibrate import add_calibrate_args

    ca = sub.add_parser("calibrate", help="re-fit an export's per-face intervals on faces like users' photos",
                        description="Score every file of an exported model on labeled faces of several kinds (val "
                                    "splits of --data, whole --photos sets through detection, those photos degraded "
                                    "with --degrade), pooled, and re-fit each file's per-face 80% intervals there "
                                    "(normalised conformal, cross-fitted: the width grows with the estimate). Writes the "
                                    "files and the new card into --out; the model is never overwritten.")
    add_artifact(ca, "model", "MODEL", "an exported .onnx/.tflite file or its folder (every file of its card)",
                 "--model")
    add_data_args(ca)
    add_calibrate_args(ca)
    ca.set_defaults(func=cmd_calibrate, files=_calibrate_files)


def _add_export(sub: Any) -> None:
    """`export`: options from edge_age.export.config and the formats table."""
    from edge_age.export.config import add_export_args  # torch-free

    ex = sub.add_parser("export", help="export a checkpoint to ONNX and TFLite (fp32, and int8 with --int8)",
                        description="Write NAME_fp32.onnx, NAME_fp32.tflite (and NAME_int8.* with --int8) plus the "
                                    "model card NAME.json; every file is re-run and compared with PyTorch on val.")
    add_artifact(ex, "checkpoint", "CHECKPOINT", "runs/NAME/best.pt", "--checkpoint")
    add_export_args(ex)
    ex.set_defaults(func=cmd_export, files=_export_files)


def _add_predict(sub: Any) -> None:
    """`predict` (runtime only): options from edge_age.eval.config."""
    from edge_age.runtime.predict_config import add_predict_args

    pr = sub.add_parser("predict", help="ages for image files (runtime only: no torch needed)",
                        description="One line per face: file, box (x,y,w,h), age and its 80% interval. Every face "
                                    "of each photo is found and framed as the model card says (--crops: each image "
                                    "is one face crop already); --json adds the eye points and the crop fed to the "
                                    "model, --annotate draws that crop.")
    add_predict_args(pr)
    pr.set_defaults(func=cmd_predict, files=_predict_files)


def _add_models(sub: Any) -> None:
    """`models` (runtime only)."""
    mo = sub.add_parser("models", help="list the model files --model can name: the bundled reference and your exports",
                        description="The reference int8 model bundled with the package (what predict uses without "
                                    "--model), then every exported file under export/ and runs/export/ of this "
                                    "folder and the folders named: format, size, input side, val MAE from its card.")
    mo.add_argument("folders", nargs="*", help="more folders to search")
    mo.add_argument("--json", type=Path, default=None, help="write the list as JSON (- for stdout)")
    mo.set_defaults(func=cmd_models, files=_models_files)


def _add_check(sub: Any) -> None:
    """`check` (runtime only)."""
    from edge_age.cli_types import THREADS

    ch = sub.add_parser("check", help="does this machine's runtime reproduce a model file's golden outputs?",
                        description="Run each file on the seeded synthetic inputs whose ages its card stores (from "
                                    "the export machine) and compare: a device-specific kernel fault shows here, not "
                                    "in users' ages. A failing default path is tried on the runtime's safe path "
                                    "(LiteRT without XNNPACK; ONNX Runtime without graph optimisation). Every "
                                    "command runs this check on a file's first use on a machine and caches it.")
    ch.add_argument("models", nargs="*", type=Path, help="model files (default: the bundled reference model)")
    ch.add_argument("--threads", type=THREADS, default=0, help="runtime threads (default: all cores)")
    ch.add_argument("--json", type=Path, default=None, help="write the verdicts as JSON (- for stdout)")
    ch.set_defaults(func=cmd_check, files=_check_files)


def _add_bench(sub: Any) -> None:
    """`bench`: options from edge_age.bench.config."""
    from edge_age.bench.config import add_bench_args  # torch-free

    be = sub.add_parser("bench", help="latency, size, memory and MAE of model files vs float ResNets",
                        description="Benchmark every model file (default: export/ of this folder, else the bundled reference) on each runtime "
                                    "and thread count; speed-ups are against fp32 ResNet18/50 rows of the same run.")
    add_bench_args(be)
    be.set_defaults(func=cmd_bench, files=_bench_files)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="edge-age",
        description="Facial age estimation from a labeled face dataset to a phone: train, evaluate, export, bench.",
    )
    parser.add_argument("--version", action="version", version=f"edge-age {__version__}")
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("--verbose", action="store_true",
                        help="let the converters and runtimes log (absl, LiteRT, torch warnings; off by default)")
    sub = parser.add_subparsers(dest="command", required=True)
    add_data_commands(sub)
    _add_train(sub)
    _add_eval(sub)
    _add_export(sub)
    _add_calibrate(sub)
    _add_predict(sub)
    _add_models(sub)
    _add_check(sub)
    _add_bench(sub)
    return parser


# What an interrupted command leaves, by command (`data wild` as "data wild"): the line Ctrl-C ends it with.
_INTERRUPTED = {
    "train": "completed epochs and their files are kept; re-run with --resume to continue",
    "predict": "the lines printed so far stand and annotated images written so far are kept; --json is written "
               "only at the end, so it was not; run predict again on the images not yet listed",
    "predict --video": "the frames seen so far are kept",
    "data wild": "--out keeps its previous scenes (the new set is swapped in only when complete); run it again",
    "data framing": "the fit is written only at the end, so it was not; run it again",
    "export": "--out keeps its previous files (the new set is swapped in only when complete); run it again",
}


def _interrupted_line(args: argparse.Namespace | None) -> str:
    """The one line an interrupted command ends with: what it kept and what to do instead."""
    command = getattr(args, "command", None)
    if command == "data":
        command = f"data {args.data_command}"
    elif command == "predict" and (args.video is not None or args.camera is not None):
        command = "predict --video"
    note = _INTERRUPTED.get(command or "", "files are written whole, so none is half-written; run it again")
    return f"edge-age: interrupted ({note})"


@contextlib.contextmanager
def _interrupts_noted() -> Iterator[list[int]]:
    """Ctrl-C raises KeyboardInterrupt as always, and is also noted in the yielded list: an interrupt that
    code inside the command catches (a library, a loop that stops on Ctrl-C) still ends the command."""
    noted: list[int] = []

    def on_sigint(signum: int, frame: Any) -> None:
        noted.append(signum)
        raise KeyboardInterrupt

    mine = threading.current_thread() is threading.main_thread() and \
        signal.getsignal(signal.SIGINT) is signal.default_int_handler
    if mine:
        signal.signal(signal.SIGINT, on_sigint)
    try:
        yield noted
    finally:
        if mine:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command. An interrupt anywhere (parsing included, or one the command caught and went on
    after) ends it with 130 and its one line: the only place a KeyboardInterrupt is turned into an exit."""
    args: argparse.Namespace | None = None
    with _interrupts_noted() as noted:
        try:
            args = _parse(argv)
            rc = _dispatch(args)
        except KeyboardInterrupt:
            noted.append(signal.SIGINT)
    if noted:
        print(_interrupted_line(args), file=sys.stderr)
        return 130
    return rc


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    resolve_artifact(args, parser)
    if args.verbose:
        os.environ[VERBOSE_ENV] = "1"  # inherited by the bench's worker processes
    quiet_libraries()
    args.command_line = "edge-age " + " ".join(shlex.quote(a) for a in argv)
    args.argv = argv
    return args


def _dispatch(args: argparse.Namespace) -> int:
    """The command's exit status; a user-fixable error is one line and 2."""
    try:
        fileio.check_outputs(*args.files(args), kinds={**data_kinds(), **read_kinds()})  # before any work
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
    except BrokenPipeError:  # `edge-age models | head`: the reader left; nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as e:
        # A full disk met by a write that no atomic writer wraps (the run folder's lock, train_command.txt): still
        # one line naming the place; every other OSError is a bug to see whole.
        if args.debug or fileio.disk_full_cause(e) is None:
            raise
        place = e.filename or getattr(args, "out", None)  # a write by descriptor names no file: the command's --out
        where = f"{place}: " if place else ""
        print(f"edge-age: error: {where}disk full ({e.strerror or os.strerror(e.errno)}); free some space and run "
              "again", file=sys.stderr)
        return 2
