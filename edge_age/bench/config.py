"""What ``edge-age bench`` is asked to do, and its options. Imports no torch."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge_age.cli_types import COUNT, POSITIVE_INT, add_renamed, default_of, int_list, number
from edge_age.data.split import SPLIT_CHOICES


@dataclass(frozen=True)
class BenchConfig:
    paths: tuple[str, ...] = ()  # model files or folders; none: export/ if here, else the bundled reference
    threads: tuple[int, ...] = (1,)
    runs: int = 50
    warmup: int = 10
    min_seconds: float = 2.0
    batch_size: int = 32
    data: str | None = None
    split: str = "test"
    limit: int | None = None
    baselines: bool = False
    baseline_dir: str = ".cache/edge-age/baselines"
    peak: bool = True
    photos: int = 30  # scenes timed through the photo path with --data (0: not timed)


def add_bench_args(p: argparse.ArgumentParser) -> None:
    def d(name: str) -> Any:
        return default_of(BenchConfig, name)

    p.add_argument("paths", nargs="*",
                   help="model files or folders (default: export/ of this folder, else the bundled reference model)")
    p.add_argument("--baselines", action="store_true",
                   help="add fp32 ResNet18/50 (freshly initialised unless trained ones are among the files; "
                        "needs torch)")
    p.add_argument("--data", default=d("data"), help="dataset for MAE (omit: latency and size only)")
    p.add_argument("--split", default=d("split"), choices=SPLIT_CHOICES, help="(default: %(default)s)")
    p.add_argument("--limit", type=POSITIVE_INT, default=d("limit"),
                   help="score MAE on at most N faces (deterministic)")
    # A list here: bench measures each thread count in turn (elsewhere --threads is one count).
    p.add_argument("--threads", type=int_list(1, 1024), default=d("threads"),
                   help="comma list of thread counts, each timed in turn (default: "
                        + ",".join(map(str, d("threads"))) + ")")
    p.add_argument("--runs", type=POSITIVE_INT, default=d("runs"), help="minimum timed runs (default: %(default)s)")
    p.add_argument("--warmup", type=COUNT, default=d("warmup"), help="(default: %(default)s)")
    p.add_argument("--min-seconds", type=number(float, 0, 3600), default=d("min_seconds"),
                   help="minimum timed seconds per row (default: %(default)s)")
    p.add_argument("--batch-size", type=number(int, 1, 1024), default=d("batch_size"),
                   help="batch for the throughput column (default: %(default)s)")
    add_renamed(p, "--batch", "--batch-size")
    p.add_argument("--photos", type=COUNT, default=d("photos"),
                   help="with --data: photos (faces of the split placed in 640x480 scenes) timed through "
                        "detect -> frame -> crop (0: skip; default: %(default)s)")
    p.add_argument("--no-peak", action="store_true", help="skip the peak matmul measurement")
    p.add_argument("--json", type=Path, default=None, help="write the results as JSON (- for stdout)")
    p.add_argument("--md", type=Path, default=None, help="write the table as Markdown")
    p.add_argument("--csv", type=Path, default=None, help="write the rows as CSV")
    p.add_argument("--plot", type=Path, default=None, help="latency-vs-MAE PNG")
