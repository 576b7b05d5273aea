"""Deterministic, age-stratified train/val/test split, reproducible from file names and a seed.

No list of files is ever stored: each sample's split follows from a hash of ``(seed, name)`` and
the rank of that hash among the samples of the same age stratum. Re-listing the data in another
order, on another machine, gives the same split.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from edge_age.errors import EdgeAgeError

SPLITS = ("train", "val", "test")
# What a command that scores a dataset takes as --split: a split, or "all" (a dataset never trained on).
SPLIT_CHOICES = [*SPLITS, "all"]


@dataclass(frozen=True)
class SplitConfig:
    seed: int = 0
    train: float = 0.70
    val: float = 0.15
    test: float = 0.15

    def __post_init__(self) -> None:
        fr = (self.train, self.val, self.test)
        if min(fr) < 0 or abs(sum(fr) - 1.0) > 1e-6:
            raise EdgeAgeError(f"split fractions must be >= 0 and sum to 1, got {fr}")


def stable_hash(seed: int, name: str) -> int:
    """64-bit hash of (seed, name) that is the same on every platform and Python version.

    A file name that is not UTF-8 (bytes on Linux, which Python gives as a str with lone surrogates) is hashed
    as its bytes (surrogateescape, as ``os.fsencode``); a UTF-8 name hashes as before."""
    text = f"{seed}\0{name}"
    try:
        data = text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate that no file name byte makes: hash its code point, never crash
        data = text.encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big")


def age_stratum(age: float) -> int:
    """One stratum per year up to 70, then 5-year bins, so that rare old ages still spread."""
    a = int(age)
    return a if a < 70 else 70 + (a - 70) // 5 * 5


def assign_splits(names: Sequence[str], ages: Sequence[float], cfg: SplitConfig = SplitConfig()) -> np.ndarray:
    """Return an array of split names ("train"/"val"/"test"), one per sample.

    Within each age stratum, samples are ordered by hash and cut at the cumulative fractions, so
    every split gets its share of every age. A stratum offset (also hashed) spreads the rounding
    of small strata across splits instead of always favouring train.
    """
    if len(names) != len(ages):
        raise ValueError("names and ages differ in length")
    strata: dict[int, list[int]] = defaultdict(list)
    for i, a in enumerate(ages):
        strata[age_stratum(a)].append(i)
    out = np.empty(len(names), dtype=object)
    cuts = np.cumsum([cfg.train, cfg.val, cfg.test])
    for stratum, idx in strata.items():
        idx.sort(key=lambda i: stable_hash(cfg.seed, names[i]))
        n = len(idx)
        offset = stable_hash(cfg.seed, f"stratum:{stratum}") / 2**64
        for rank, i in enumerate(idx):
            q = ((rank + offset) / n) % 1.0
            out[i] = SPLITS[min(int(np.searchsorted(cuts, q, side="right")), 2)]
    return out


def limit_mask(names: Sequence[str], limit: int | None, seed: int) -> np.ndarray:
    """Keep a deterministic random subset of ``limit`` samples (all when ``limit`` is None).

    Applied after the split, so a limited run's test faces are a subset of the full run's test faces.
    """
    n = len(names)
    if limit is None or limit >= n:
        return np.ones(n, dtype=bool)
    order = sorted(range(n), key=lambda i: stable_hash(seed, f"limit:{names[i]}"))
    mask = np.zeros(n, dtype=bool)
    mask[order[:limit]] = True
    return mask
