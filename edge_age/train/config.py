"""What ``edge-age train`` is asked to do, and its command-line options. Imports no torch.

The options take their defaults from :class:`TrainConfig` and their choices from the names below, so
each default is declared once and ``--help`` needs no torch import (tests keep the names equal to the
registries they mirror).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_age.train import recipes
from edge_age.cli_types import COUNT, POSITIVE_INT, SEED, THREADS, add_renamed, config_from_args, default_of, number
from edge_age.errors import EdgeAgeError


# The registry's names as of this release, for `train --help` on a machine without torch (a test keeps
# them equal to the registry).
KNOWN_MODELS = ["mobilenetv2", "mobilenetv2_age", "resnet18", "resnet50", "simplecnn"]


class RegistryNames:
    """``--arch`` choices, read from the model registry when first asked (it imports torch): only
    ``train`` asks, so every other command never imports it here. A new ``@register_model`` builder is
    a choice with no edit here; without torch the known names are listed (``train`` itself then says
    which extra to install)."""

    def _names(self) -> list[str]:
        try:
            from edge_age.models import list_models
        except ModuleNotFoundError as e:
            if e.name not in ("torch", "torchvision"):
                raise
            return KNOWN_MODELS
        return list_models()

    def __contains__(self, name: object) -> bool:
        return name in self._names()

    def __iter__(self):
        return iter(self._names())


# The loss table's keys, listed here so that ``--help`` needs no torch (a test keeps them equal).
LOSS_NAMES = ["l1", "mse", "smoothl1", "dldl"]
HEADS = ["regression", "distribution"]
PRECISIONS = ["auto", "bf16", "fp32"]


@dataclass(frozen=True)
class TrainConfig:
    model: str = "simplecnn"
    out: str = "runs/simplecnn"
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    loss: str = "l1"
    patience: int = 8
    seed: int = 0
    # Seed of the weights' init, the batch order, augmentation and dropout (None: --seed). The split stays
    # tied to --seed, so runs of one recipe that differ only here measure its run-to-run spread on the same
    # val and test faces (lab/aaf/README.md).
    init_seed: int | None = None
    precision: str = "auto"  # auto | bf16 | fp32
    threads: int = 0  # 0: all cores
    augment: bool = True
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    max_steps: int = 0  # stop each epoch after this many steps (0: full epochs); for smoke tests
    bn_recalib: int = 0  # recompute BatchNorm statistics on this many clean train faces per epoch (0: off)
    # Framing error to train through (edge_age.data.framing_fit.Jitter as a dict; None: the mild default
    # affine alone): half of each batch is cropped with a scale, shift and turn drawn from these ranges.
    jitter: dict[str, list[float]] | None = None
    # Distillation: a trained checkpoint with a distribution head whose age distribution per training
    # face (edge_age.train.distill) is mixed into the DLDL target with this weight ("" : no teacher).
    teacher: str = ""
    teacher_weight: float = 0.5
    # Progressive resizing (0: off): the first ``progressive_epochs`` train on batches downscaled to this
    # side, growing linearly towards the model's input size; every later epoch trains at the input size.
    # A fixed count, not a share of --epochs, so a resume with more --epochs keeps the schedule it ran.
    progressive: int = 0
    progressive_epochs: int = 10
    # Share of training faces given one photo degradation (edge_age.train.tensors.DEGRADATIONS: grey, low
    # resolution, JPEG, grain, exposure) at a random strength: on by default because a model trained
    # without read sensor grain as decades of age (lab/lab_notes.md). Runs saved before it
    # existed trained without, and resume so (train._resume_state).
    degrade: float = 0.25
    # Age balancing (losses.balance_weights): each face's loss is weighted by the smoothed density of
    # its age among the training faces to the power -balance (0: off; 0.5: square-root inverse). Off by
    # default: it buys the rare ages (the minors a gate decides on) with the crowded ones' accuracy
    # (lab/lab_notes.md).
    balance: float = 0.0
    # Gate loss (losses.DLDLLoss): weight of a cross-entropy on the predicted mass below each gate age, the
    # under-18 and Challenge 25 decisions users make (0: off; --loss dldl only; lab/aaf/README.md measures it).
    gate_loss: float = 0.0
    gate_ages: tuple[float, ...] = (18.0, 25.0)
    # Weight averaging (0: off): validation, best.pt and so the export use an exponential moving average
    # of the weights with this decay per optimiser step (torch.optim.swa_utils.AveragedModel; BatchNorm
    # statistics averaged too unless --bn-recalib recomputes them; with --progressive it starts afresh at
    # the first full-size epoch); last.pt keeps the trained weights and the average, so --resume continues both.
    ema: float = 0.0
    # Share of training faces whose square a photo's edge cuts (edge_age.train.tensors.edge_cut): the crop of a
    # face near the border repeats the border's pixels, which chips never show (lab/photo_gap.md).
    edge_cut: float = 0.0
    recipe: str = ""  # the named recipe the run's options came from (edge_age/recipes/), "" for none

    def input_side(self, epoch: int, full: int) -> int:
        """The side the batches of ``epoch`` (0-based) are trained at. Multiples of 8 keep the strided
        convolutions' grids aligned, so no side silently drops a row of pixels."""
        if not self.progressive or epoch >= self.progressive_epochs:
            return full
        side = self.progressive + (full - self.progressive) * epoch / self.progressive_epochs
        return min(full, max(8, int(round(side / 8)) * 8))

    @property
    def run_seed(self) -> int:
        """The seed of everything random in training but the split."""
        return self.seed if self.init_seed is None else self.init_seed


# Options a recipe may not set: where the data and the run live, and how this one invocation behaves.
NOT_IN_RECIPES = {"data", "out", "resume", "resume_new_data", "cache_dir", "no_progress", "recipe", "limit",
                  "threads", "max_steps"}


def _d(name: str) -> Any:
    return default_of(TrainConfig, name)


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--recipe", default=None, metavar="NAME",
                   help=f"named recipe whose options this run starts from: {', '.join(recipes.names())}, a .toml "
                        f"file, or {NO_RECIPE}; options given here override it, and the defaults shown below apply "
                        f"only to options the recipe does not set (default: {recipes.DEFAULT}; with --arch alone, "
                        "the recipe of that name when there is one; with --resume, the run's own)")
    p.add_argument("--arch", dest="model", default=None, choices=RegistryNames(), metavar="NAME",
                   help="registry model: %(choices)s; mobilenetv2_age is the compact one (default: the recipe's)")
    add_renamed(p, "--model", "--arch")
    p.add_argument("--input-size", type=number(int, 16, 1024), default=None,
                   help="square input side in pixels (default: the model's own: 128, mobilenetv2_age 64)")
    p.add_argument("--head", default=None, choices=HEADS,
                   help=f"one output, or softmax over one-year bins with its expectation (all but simplecnn) "
                        f"(default: {HEADS[0]})")
    p.add_argument("--dropout", type=number(float, 0, 0.99), default=None, help="dropout before the FC layers (model default)")
    p.add_argument("--pretrained", action=argparse.BooleanOptionalAction, default=None,
                   help="start from torchvision's ImageNet weights (resnet18/50, mobilenetv2_age): read from the "
                        "torch hub cache, downloaded by torchvision where a network allows")


def _add_schedule_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default=None, help="run folder (default: runs/ARCH)")
    p.add_argument("--epochs", type=number(int, 1, 100_000), default=None, help=f"maximum epochs (default: {_d('epochs')})")
    p.add_argument("--batch-size", type=number(int, 1, 4096), default=None, help=f"(default: {_d('batch_size')})")
    p.add_argument("--lr", type=number(float, 0, 10, lo_open=True), default=None,
                   help=f"peak AdamW learning rate (default: {_d('lr')})")
    p.add_argument("--weight-decay", type=number(float, 0, 10), default=None,
                   help=f"AdamW weight decay (default: {_d('weight_decay')})")
    p.add_argument("--loss", default=None, choices=LOSS_NAMES,
                   help=f"l1/mse/smoothl1 on the age, or dldl: label-distribution KL + L1, needs --head "
                        f"distribution (default: {_d('loss')})")
    p.add_argument("--patience", type=COUNT, default=None,
                   help=f"early-stopping patience in epochs (default: {_d('patience')})")
    p.add_argument("--seed", type=SEED, default=None,
                   help=f"seed for the split, and for init and shuffling unless --init-seed (default: {_d('seed')})")
    p.add_argument("--init-seed", type=SEED, default=None,
                   help="seed for the weights' init, batch order, augmentation and dropout alone: another run of "
                        "the same recipe on the same split (default: --seed)")
    p.add_argument("--limit", type=POSITIVE_INT, default=None, help="use only N faces (deterministic subset), for quick runs")
    p.add_argument("--precision", default=None, choices=PRECISIONS,
                   help=f"autocast precision; auto picks bf16 only where the CPU/GPU runs it natively "
                        f"(default: {_d('precision')})")
    p.add_argument("--threads", type=THREADS, default=None, help="torch threads (default: all cores)")
    p.add_argument("--bn-recalib", type=COUNT, default=None, metavar="N",
                   help="after each epoch, recompute BatchNorm statistics on N un-augmented train faces "
                        "before validating (default: 0, off)")
    p.add_argument("--max-steps", type=COUNT, default=None, help="cap steps per epoch (smoke tests)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
    p.add_argument("--resume-new-data", action="store_true",
                   help="with --resume: continue even though --data splits differently from the run's data")


def _add_method_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--framing", default=None, metavar="FILE",
                   help="framing fitted by `edge-age data framing` (its framing.json), or a bundled fit by "
                        "detector name (mtcnn): stored in the checkpoint and the model card, and the framing error "
                        "it leaves, which half of each batch is augmented with (default: the built-in UTKFace "
                        "framing, mild augmentation only)")
    p.add_argument("--teacher", default=None, metavar="CKPT",
                   help="distil from this trained checkpoint (e.g. --arch mobilenetv2 at 128 px): its age "
                        "distribution per training face joins the DLDL target; needs --loss dldl")
    p.add_argument("--teacher-weight", type=number(float, 0, 1, lo_open=True), default=None, metavar="W",
                   help=f"with --teacher: share of the teacher's distribution in the target, the rest the Gaussian "
                        f"around the true age (default: {_d('teacher_weight')})")
    p.add_argument("--progressive", type=number(int, 8, 1024), default=None, metavar="SIDE",
                   help="progressive resizing: the first --progressive-epochs train on batches downscaled to SIDE "
                        "px, growing towards the input size; the rest at the input size, which validation always "
                        "uses; early stopping waits for the full size (default: off)")
    p.add_argument("--progressive-epochs", type=POSITIVE_INT, default=None, metavar="N",
                   help=f"with --progressive: epochs below the input size (default: {_d('progressive_epochs')})")
    p.add_argument("--degrade", type=number(float, 0, 1), default=None, metavar="P",
                   help=f"share of training faces given one photo degradation (grey, low resolution, JPEG, "
                        f"grain, exposure) at a random strength, so estimates hold on camera photos and old "
                        f"scans (default: {_d('degrade')})")
    p.add_argument("--balance", type=number(float, 0, 1), default=None, metavar="POWER",
                   help="weight each face's loss by (smoothed share of its age in the training set) ** -POWER, "
                        "so that rare ages (teenagers, the old) weigh more than the crowded twenties; 0.5 is "
                        "square-root inverse; metrics.csv's train_loss is then the weighted loss (default: 0, off)")
    p.add_argument("--gate-loss", type=number(float, 0, 100), default=None, metavar="WEIGHT",
                   help="with --loss dldl: add WEIGHT x the cross-entropy of the predicted share of ages below "
                        "18 and below 25 against the truth's, so that estimates near a gate fall on the right "
                        "side of it; metrics.csv's train_loss then includes it (default: 0, off)")
    p.add_argument("--ema", type=number(float, 0, 0.9999), default=None, metavar="DECAY",
                   help="validate and save an exponential moving average of the weights, updated after every "
                        "optimiser step with this decay (0.999 averages over about 1000 steps; default: 0, off)")
    p.add_argument("--edge-cut", type=number(float, 0, 1), default=None, metavar="P",
                   help="share of training faces whose crop a photo's edge cuts, filled as the runtime fills "
                        "it (the edge pixels repeated), as faces near a photo's border are (default: 0)")
    p.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                   help="flip/affine/colour/degradation augmentation (default: on)")
    p.add_argument("--denoise", action=argparse.BooleanOptionalAction, default=None,
                   help="non-local-means denoise before resizing (seed 001)")
    p.add_argument("--deblur", action=argparse.BooleanOptionalAction, default=None,
                   help="unsharp-mask after resizing (seed 001)")


def add_train_args(p: argparse.ArgumentParser) -> None:
    """``train``'s options (after the shared data options). Every option a recipe may set defaults to
    ``None`` here, so that :func:`apply_recipe` can tell what the command line gave."""
    _add_model_args(p)
    _add_schedule_args(p)
    _add_method_args(p)
    p.set_defaults(recipe_options={a.option_strings[0][2:].replace("-", "_"): a
                                   for a in p._actions if a.option_strings and a.option_strings[0].startswith("--")
                                   and a.help != argparse.SUPPRESS and a.dest not in NOT_IN_RECIPES})


NO_RECIPE = "none"  # `--recipe none`: the options given and TrainConfig's defaults, nothing else


def _recipe_name(args: argparse.Namespace) -> str:
    """--recipe, else the recipe named after --arch when there is one (``--arch simplecnn`` alone trains
    the SimpleCNN recipe, not the reference's options on SimpleCNN), else the default."""
    if args.recipe:
        return "" if args.recipe == NO_RECIPE else args.recipe
    if args.model:
        return args.model if args.model in recipes.names() else ""
    return recipes.DEFAULT


def _option_text(option: str, action: argparse.Action, value: Any) -> list[str]:
    if isinstance(action, argparse.BooleanOptionalAction):
        return [option if value else f"--no-{option[2:]}"]
    return [option, str(value)]


def apply_recipe(args: argparse.Namespace) -> tuple[str, list[str]]:
    """Fill every option the command line left unset from the recipe; each recipe value passes the
    option's own type and choices. Returns the recipe's name and the options it set, spelled out."""
    name = _recipe_name(args)
    if not name:
        return "", []
    spelled: list[str] = []
    for key, value in recipes.load_recipe(name).items():
        action = args.recipe_options.get(key)
        if action is None:
            raise EdgeAgeError(f"recipe {name}: {key!r} is not a train option a recipe can set")
        if getattr(args, action.dest) is not None:
            continue  # the command line overrides the recipe
        option = action.option_strings[0]
        if isinstance(action, argparse.BooleanOptionalAction) and not isinstance(value, bool):
            raise EdgeAgeError(f"recipe {name}: {option}: {value!r} is not true or false")
        try:
            parsed = action.type(str(value)) if action.type else value
        except (argparse.ArgumentTypeError, ValueError) as e:
            raise EdgeAgeError(f"recipe {name}: {option}: {e}") from None
        if action.choices is not None and parsed not in action.choices:
            raise EdgeAgeError(f"recipe {name}: {option}: {parsed!r} is not one of {', '.join(action.choices)}")
        setattr(args, action.dest, parsed)
        spelled += _option_text(option, action, parsed)
    return name, spelled


def train_config(args: argparse.Namespace, recipe: str, input_size: int, jitter: dict | None) -> TrainConfig:
    """The :class:`TrainConfig` of a parsed (recipe-filled) ``train`` command line."""
    model_kwargs: dict[str, Any] = {"input_size": input_size}
    model_kwargs.update({k: v for k, v in (("dropout", args.dropout), ("pretrained", args.pretrained or None))
                         if v is not None})
    if (args.head or HEADS[0]) != HEADS[0]:
        model_kwargs["head"] = args.head
    for main, extra in (("teacher", "teacher_weight"), ("progressive", "progressive_epochs")):
        # the second of each pair means nothing alone: refused rather than ignored
        if getattr(args, extra) is not None and getattr(args, main) is None:
            raise EdgeAgeError(f"--{extra.replace('_', '-')} needs --{main}")
    augment = args.augment is not False
    return config_from_args(
        TrainConfig, args, out=args.out or f"runs/{args.model or _d('model')}", augment=augment,
        model_kwargs=model_kwargs, jitter=jitter, recipe=recipe,
        **{k: 0.0 for k in ("degrade", "edge_cut") if not augment})


def train_job(args: argparse.Namespace) -> tuple[TrainConfig, Any, Any, str]:
    """What a parsed ``train`` command line asks for: the config, the data, the preprocessing spec and the
    resolved command (the recipe's options spelled out; stored in the run's train_command.txt)."""
    from edge_age.data.commands import data_config
    from edge_age.data.framing_fit import load_fit
    from edge_age.data.preprocess import PreprocessSpec
    from edge_age.models import default_input_size

    _resume_defaults(args)
    recipe, spelled = apply_recipe(args)
    size = args.input_size or default_input_size(args.model or _d("model"))
    framing, jitter = load_fit(args.framing) if args.framing else (None, None)
    cfg = train_config(args, recipe, size, jitter)
    spec = PreprocessSpec(size=size, denoise=bool(args.denoise), deblur=bool(args.deblur),
                          **({"framing": framing} if framing else {}))
    return cfg, data_config(args, cfg.seed, args.limit), spec, resolved_command(args.argv, recipe, spelled)


def _resume_defaults(args: argparse.Namespace) -> None:
    """A resumed run continues as it started: its recipe (not today's default) and its epoch count, unless
    the command line names them."""
    if not args.resume:
        return
    recipe = args.recipe or recipes.DEFAULT
    arch = args.model or (recipes.load_recipe(recipe).get("arch") if recipe != NO_RECIPE else None) or _d("model")
    last = Path(args.out or f"runs/{arch}") / "last.pt"
    if not last.is_file():
        return
    from edge_age.models.checkpoint import load_checkpoint

    stored = load_checkpoint(last).get("train_config", {})
    if args.recipe is None and args.model is None:
        args.recipe = stored.get("recipe") or NO_RECIPE
    if args.epochs is None and "epochs" in stored:
        args.epochs = stored["epochs"]


def resolved_command(argv: list[str], recipe: str, spelled: list[str]) -> str:
    """The command line with the recipe named explicitly and every option it set spelled out: run again, it
    is the same run (the recipe then sets nothing the line does not already give)."""
    import shlex

    kept, skip = [], False
    for a in argv:
        if skip or a == "--recipe" or a.startswith("--recipe="):
            skip = a == "--recipe"
            continue
        kept.append(a)
    return "edge-age " + " ".join(shlex.quote(a) for a in kept + ["--recipe", recipe or NO_RECIPE] + spelled)
