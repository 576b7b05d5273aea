"""``edge-age train`` options, kept apart so ``--help`` needs no torch import."""

from __future__ import annotations

import argparse

# The registry's names, listed here so that ``--help`` needs no torch; a test keeps them equal.
MODEL_NAMES = ["mobilenetv2_age", "resnet18", "resnet50", "simplecnn"]


def add_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="simplecnn", choices=MODEL_NAMES,
                   help="registry model (default: %(default)s); mobilenetv2_age is the compact one")
    p.add_argument("--input-size", type=int, default=None,
                   help="square input side in pixels (default: the model's own: 128, mobilenetv2_age 64)")
    p.add_argument("--out", default=None, help="run folder (default: runs/MODEL)")
    p.add_argument("--epochs", type=int, default=30, help="maximum epochs (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=64, help="(default: %(default)s)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak AdamW learning rate (default: %(default)s)")
    p.add_argument("--loss", default="l1", choices=["l1", "mse", "smoothl1", "dldl"],
                   help="l1/mse/smoothl1 on the age, or dldl: label-distribution KL + L1, needs --head "
                        "distribution (default: %(default)s)")
    p.add_argument("--head", default="regression", choices=["regression", "distribution"],
                   help="mobilenetv2_age: one output, or softmax over one-year bins with its expectation "
                        "(default: %(default)s)")
    p.add_argument("--patience", type=int, default=8, help="early-stopping patience in epochs (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed for split, init, shuffling (default: %(default)s)")
    p.add_argument("--limit", type=int, default=None, help="use only N faces (deterministic subset), for quick runs")
    p.add_argument("--precision", default="auto", choices=["auto", "bf16", "fp32"],
                   help="autocast precision; auto picks bf16 only where the CPU/GPU runs it natively")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    p.add_argument("--dropout", type=float, default=None, help="dropout before the FC layers (model default)")
    p.add_argument("--pretrained", action="store_true",
                   help="start from torchvision ImageNet weights found in the local torch hub cache "
                        "(resnet18/50, mobilenetv2_age; for the latter copy ../shared/weights/mobilenet_v2-b0353104.pth "
                        "to $TORCH_HOME/hub/checkpoints/)")
    p.add_argument("--bn-recalib", type=int, default=0, metavar="N",
                   help="after each epoch, recompute BatchNorm statistics on N un-augmented train faces "
                        "before validating (0: off, the default). Measured on mobilenetv2_age with DLDL: "
                        "test MAE 5.12 -> 5.01 with 4096; on the L1 head it hurt, hence off by default")
    p.add_argument("--framing", default=None, metavar="FILE",
                   help="framing fitted by `edge-age data framing` (stored in the checkpoint and the model card) "
                        "and the framing error it leaves, which half of each batch is augmented with "
                        "(default: the built-in UTKFace framing, mild augmentation only)")
    p.add_argument("--no-augment", action="store_true", help="disable flip/affine/colour augmentation")
    p.add_argument("--denoise", action="store_true", help="non-local-means denoise before resizing (seed 001)")
    p.add_argument("--deblur", action="store_true", help="unsharp-mask after resizing (seed 001)")
    p.add_argument("--max-steps", type=int, default=0, help="cap steps per epoch (smoke tests)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last.pt")
