"""Training throughput (img/s) of each registry model in fp32 and under bf16 autocast on this CPU.

Times ``edge_age.train.loop.train_step`` (the loop's own step: channels-last input, augmentation off,
AdamW) on random batches after warm-up. Writes lab/train_throughput.{json,md}.

    python lab/train_throughput.py [--models simplecnn,resnet18,resnet50] [--steps 8]

Lab script (lab/README.md). It imports edge_age internals (edge_age.train.loop, .losses, .tensors, .hardware,
models, data.preprocess (torch)), so a rename there can break it: tests/lab/test_lab_smoke.py runs its --help.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from edge_age import fileio
from edge_age.data.preprocess import PreprocessSpec
from edge_age.models import create_model
from edge_age.train.losses import LOSSES
from edge_age.train.tensors import to_input
from edge_age.train.hardware import choose_precision, tune_malloc
from edge_age.train.loop import train_step


def measure(model_name: str, precision: str, batch: int, steps: int, warmup: int = 2) -> float:
    torch.manual_seed(0)
    model = create_model(model_name).to(memory_format=torch.channels_last).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (batch, 128, 128, 3), dtype=np.uint8)
    y = torch.from_numpy(rng.uniform(1, 90, batch).astype(np.float32))
    x = to_input(faces, PreprocessSpec(), None)
    for _ in range(warmup):
        train_step(model, opt, LOSSES["l1"], x, y, precision)
    t0 = time.perf_counter()
    for _ in range(steps):
        train_step(model, opt, LOSSES["l1"], x, y, precision)
    return batch * steps / (time.perf_counter() - t0)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="simplecnn,resnet18,resnet50")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "train_throughput")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    tune_malloc()
    cpu_flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    rows = []
    for name in args.models.split(","):
        for prec in ("fp32", "bf16"):
            ips = measure(name, prec, args.batch, args.steps)
            rows.append({"model": name, "precision": prec, "img_per_s": round(ips, 1)})
            print(f"{name:<10} {prec}: {ips:7.1f} img/s", flush=True)
    result = {
        "command": "python " + " ".join(sys.argv),
        "machine": {"cpu": platform.processor(), "cores": os.cpu_count(), "torch": torch.__version__,
                    "threads": torch.get_num_threads(),
                    "avx512_bf16": "avx512_bf16" in cpu_flags, "amx_bf16": "amx_bf16" in cpu_flags,
                    "auto_precision": choose_precision("auto", torch.device("cpu"))},
        "batch": args.batch, "steps": args.steps, "rows": rows,
    }
    fileio.write_json(args.out.with_suffix(".json"), result)
    lines = [f"Training throughput, batch {args.batch}, {torch.get_num_threads()} threads, torch {torch.__version__}; "
             f"CPU flags avx512_bf16={result['machine']['avx512_bf16']} amx_bf16={result['machine']['amx_bf16']}",
             "", f"Command: `{result['command']}`", "", "| model | fp32 img/s | bf16 img/s | bf16 / fp32 |",
             "|---|---:|---:|---:|"]
    for name in args.models.split(","):
        f = next(r["img_per_s"] for r in rows if r["model"] == name and r["precision"] == "fp32")
        b = next(r["img_per_s"] for r in rows if r["model"] == name and r["precision"] == "bf16")
        lines.append(f"| {name} | {f:.1f} | {b:.1f} | {b / f:.2f} |")
    fileio.write_text(args.out.with_suffix(".md"), "\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
