"""What ``edge-age train`` is asked to do, and its command-line options. Imports no torch.

The options take their defaults from :class:`TrainConfig` and their choices from the names below, so
each default is declared once and ``--help`` needs no torch import (tests keep the names equal to the
registries they mirror).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from edge_age.cli_types import COUNT, POSITIVE_INT, SEED, THREADS, default_of, number


class RegistryNames:
    """``--model`` choices, read from the model registry when first asked (it imports torch): only
    ``train`` asks, so every other command, and a machine without torch, never imports it here. A new
    ``@register_model`` builder is a choice with no edit here."""

    def _names(self) -> list[str]:
        try:
            from edge_age.models import list_models
        except ModuleNotFoundError as e:  # no torch: `train` itself then says which extra to install
            if e.name not in ("torch", "torchvision"):
                raise
            return []
        return list_models()

    def __contains__(self, name: object) -> bool:
        names = self._names()
        return not names or name in names

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
    # without read sensor grain as decades of age (benchmarks/lab_notes.md). Runs saved before it
    # existed trained without, and resume so (train._resume_state).
    degrade: float = 0.25
    # Age balancing (losses.balance_weights): each face's loss is weighted by the smoothed density of
    # its age among the training faces to the power -balance (0: off; 0.5: square-root inverse). Off by
    # default: it buys the rare ages (the minors a gate decides on) with the crowded ones' accuracy
    # (benchmarks/lab_notes.md).
    balance: float = 0.0
    # Weight averaging (0: off): validation, best.pt and so the export use an exponential moving average
    # of the weights with this decay per optimiser step (torch.optim.swa_utils.AveragedModel; BatchNorm
    # statistics averaged too unless --bn-recalib recomputes them; with --progressive it starts afresh at
    # the first full-size epoch); last.pt keeps the trained weights and the average, so --resume continues both.
    ema: float = 0.0
    # Share of training faces whose square a photo's edge cuts (edge_age.train.tensors.edge_cut): the crop of a
    # face near the border repeats the border's pixels, which chips never show (benchmarks/photo_gap.md).
    edge_cut: float = 0.0

    def input_side(self, epoch: int, full: int) -> int:
        """The side the batches of ``epoch`` (0-based) are trained at. Multiples of 8 keep the strided
        convolutions' grids aligned, so no side silently drops a row of pixels."""
        if not self.progressive or epoch >= self.progressive_epochs:
            return full
        side = self.progressive + (full - self.progressive) * epoch / self.progressive_epochs
        return min(full, max(8, int(round(side / 8)) * 8))


def add_train_args(p: argparse.ArgumentParser) -> None:
    def d(name: str) -> Any:
        return default_of(TrainConfig, name)

    p.add_argument("--model", default=d("model"), choices=RegistryNames(), metavar="NAME",
                   help="registry model: %(choices)s (default: %(default)s); mobilenetv2_age is the compact one")
    p.add_argument("--input-size", type=number(int, 16, 1024), default=None,
                   help="square input side in pixels (default: the model's own: 128, mobilenetv2_age 64)")
    p.add_argument("--out", default=None, help="run folder (default: runs/MODEL)")
    p.add_argument("--epochs", type=number(int, 1, 100_000), default=d("epochs"), help="maximum epochs (default: %(default)s)")
    p.add_argument("--batch-size", type=number(int, 1, 4096), default=d("batch_size"), help="(default: %(default)s)")
    p.add_argument("--lr", type=number(float, 0, 10, lo_open=True), default=d("lr"), help="peak AdamW learning rate (default: %(default)s)")
    p.add_argument("--weight-decay", type=number(float, 0, 10), default=d("weight_decay"),
                   help="AdamW weight decay (default: %(default)s)")
    p.add_argument("--loss", default=d("loss"), choices=LOSS_NAMES,
                   help="l1/mse/smoothl1 on the age, or dldl: label-distribution KL + L1, needs --head "
                        "distribution (default: %(default)s)")
    p.add_argument("--head", default=HEADS[0], choices=HEADS,
                   help="one output, or softmax over one-year bins with its expectation (all but simplecnn) "
                        "(default: %(default)s)")
    p.add_argument("--patience", type=COUNT, default=d("patience"),
                   help="early-stopping patience in epochs (default: %(default)s)")
    p.add_argument("--seed", type=SEED, default=d("seed"), help="seed for split, init, shuffling (default: %(default)s)")
    p.add_argument("--limit", type=POSITIVE_INT, default=None, help="use only N faces (deterministic subset), for quick runs")
    p.add_argument("--precision", default=d("precision"), choices=PRECISIONS,
                   help="autocast precision; auto picks bf16 only where the CPU/GPU runs it natively")
    p.add_argument("--threads", type=THREADS, default=d("threads"), help="torch threads (default: all cores)")
    p.add_argument("--dropout", type=number(float, 0, 0.99), default=None, help="dropout before the FC layers (model default)")
    p.add_argument("--pretrained", action="store_true",
                   help="start from torchvision ImageNet weights found in the local torch hub cache "
                        "(resnet18/50, mobilenetv2_age; for the latter copy ../shared/weights/mobilenet_v2-b0353104.pth "
                        "to $TORCH_HOME/hub/checkpoints/)")
    p.add_argument("--bn-recalib", type=COUNT, default=d("bn_recalib"), metavar="N",
                   help="after each epoch, recompute BatchNorm statistics on N un-augmented train faces "
                        "before validating (0: off, the default; measurements in benchmarks/training.md)")
    p.add_argument("--framing", default=None, metavar="FILE",
                   help="framing fitted by `edge-age data framing` (stored in the checkpoint and the model card) "
                        "and the framing error it leaves, which half of each batch is augmented with "
                        "(default: the built-in UTKFace framing, mild augmentation only)")
    p.add_argument("--teacher", default=d("teacher") or None, metavar="CKPT",
                   help="distil from this trained checkpoint (e.g. --model mobilenetv2 at 128 px): its age "
                        "distribution per training face joins the DLDL target; needs --loss dldl")
    p.add_argument("--teacher-weight", type=number(float, 0, 1, lo_open=True), default=None, metavar="W",
                   help=f"with --teacher: share of the teacher's distribution in the target, the rest the Gaussian "
                        f"around the true age (default: {d('teacher_weight')})")
    p.add_argument("--progressive", type=number(int, 8, 1024), default=None, metavar="SIDE",
                   help="progressive resizing: the first --progressive-epochs train on batches downscaled to SIDE "
                        "px, growing towards the input size; the rest at the input size, which validation always "
                        "uses; early stopping waits for the full size (default: off)")
    p.add_argument("--progressive-epochs", type=POSITIVE_INT, default=None, metavar="N",
                   help=f"with --progressive: epochs below the input size (default: {d('progressive_epochs')})")
    p.add_argument("--degrade", type=number(float, 0, 1), default=d("degrade"), metavar="P",
                   help="share of training faces given one photo degradation (grey, low resolution, JPEG, "
                        "grain, exposure) at a random strength, so estimates hold on camera photos and old "
                        "scans (default: %(default)s)")
    p.add_argument("--balance", type=number(float, 0, 1), default=d("balance"), metavar="POWER",
                   help="weight each face's loss by (smoothed share of its age in the training set) ** -POWER, "
                        "so that rare ages (teenagers, the old) weigh more than the crowded twenties; 0.5 is "
                        "square-root inverse; metrics.csv's train_loss is then the weighted loss "
                        "(default: %(default)s, off)")
    p.add_argument("--ema", type=number(float, 0, 0.9999), default=d("ema"), metavar="DECAY",
                   help="validate and save an exponential moving average of the weights, updated after every "
                        "optimiser step with this decay (0.999 averages over about 1000 steps; default: "
                        "%(default)s, off)")
    p.add_argument("--edge-cut", type=number(float, 0, 1), default=d("edge_cut"), metavar="P",
                   help="share of training faces whose crop a photo's edge cuts, filled as the runtime fills "
                        "it (the edge pixels repeated), as faces near a photo's border are (default: %(default)s)")
    p.add_argument("--no-augment", action="store_true", help="disable flip/affine/colour/degradation augmentation")
    p.add_argument("--denoise", action="store_true", help="non-local-means denoise before resizing (seed 001)")
    p.add_argument("--deblur", action="store_true", help="unsharp-mask after resizing (seed 001)")
    p.add_argument("--max-steps", type=COUNT, default=d("max_steps"), help="cap steps per epoch (smoke tests)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
    p.add_argument("--resume-new-data", action="store_true",
                   help="with --resume: continue even though --data splits differently from the run's data")
