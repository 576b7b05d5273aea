"""``edge-age check``: does this machine's runtime reproduce a file's golden outputs? Imports no torch.

Run on a file's first use on a machine (the verdict is cached per file and machine), and on demand
by ``edge-age check``. A file whose default path fails (a device-specific kernel fault) is run on
the runtime's safe path instead, when that one passes, with one line saying so; a file that fails
both is refused, rather than giving wrong ages without a word.
"""

from __future__ import annotations

import functools
import hashlib
import math
from importlib import metadata
import json
import platform
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edge_age import fileio
from edge_age.errors import EdgeAgeError
from edge_age.formats import bundled_reference
from edge_age.runtime.card import file_entry
from edge_age.runtime.golden import golden_ages
from edge_age.runtime.loader import open_model, safe_opener

CACHE_FILE = "checks.json"
SAFE_PATH = {"litert": "LiteRT without the XNNPACK delegate", "onnxruntime": "ONNX Runtime without graph optimisation"}


@dataclass(frozen=True)
class Verdict:
    ok: bool  # the default path reproduces the golden ages
    safe_ok: bool | None  # the safe path does (None: not tried, the default passed)
    median_diff: float
    max_diff: float
    safe_median_diff: float | None = None

    @property
    def usable(self) -> bool:
        return self.ok or bool(self.safe_ok)


def golden_of(predictor: Any) -> dict[str, Any] | None:
    """The card's golden entry of this very file, if it has one."""
    entry = file_entry(predictor)
    return entry.get("golden") if entry else None


def _diffs(ages: list[float], want: list[float]) -> tuple[float, float]:
    """Median and largest |difference|; infinite when any age is not a number (NaN or infinite outputs)."""
    d = np.abs(np.asarray(ages, np.float64) - np.asarray(want, np.float64))
    if not np.isfinite(d).all():
        return math.inf, math.inf
    return float(np.median(d)), float(d.max())


def _off(median: float | None, short: bool = False) -> str:
    """How far a path's ages are off the golden ones, in words (a cached verdict holds an infinite median,
    the mark of NaN or infinite outputs, as null: strict JSON)."""
    if median is None or not math.isfinite(median):
        return "non-finite ages" if short else "non-finite ages (NaN or infinite) for the file's golden inputs"
    return f"{median:.1f}" if short else f"ages {median:.1f} years (median) off the file's golden outputs"


def run_check(predictor: Any, make_safe: Callable[[], Any], golden: dict[str, Any]) -> Verdict:
    tol = float(golden["tolerance"])
    n, seed = int(golden["n"]), int(golden["seed"])
    median, worst = _diffs(golden_ages(predictor, n, seed), golden["ages"])
    if median <= tol:
        return Verdict(True, None, median, worst)
    safe_median, _ = _diffs(golden_ages(make_safe(), n, seed), golden.get("ages_safe", golden["ages"]))
    return Verdict(False, safe_median <= float(golden.get("tolerance_safe", tol)), median, worst, safe_median)


def machine_key() -> str:
    """This machine as the kernels see it: architecture, CPU feature flags, runtime versions."""
    flags = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("flags", "features")):
                flags = line
                break
    except OSError:
        pass
    versions = []  # from the installed distributions, whichever runtime this process happens to have imported
    for dist in ("onnxruntime", "ai-edge-litert", "tflite-runtime"):
        try:
            versions.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{dist}=-")
    return hashlib.sha256("|".join([platform.machine(), flags, *versions]).encode()).hexdigest()[:16]


def _cache_path() -> Path:
    from edge_age.data.cache import default_cache_dir

    return default_cache_dir() / CACHE_FILE


def _key(path: Path, golden: dict[str, Any]) -> str:
    """The file's bytes, the card's golden entry (re-exported or re-checked cards get a new verdict), the machine."""
    card_part = hashlib.sha256(json.dumps(golden, sort_keys=True).encode()).hexdigest()[:8]
    return fileio.sha256_file(path)[:24] + "@" + card_part + "@" + machine_key()


def _load_cache() -> dict[str, Any]:
    """The verdicts so far; a missing, unreadable or foreign cache file is an empty one (it is rewritten)."""
    try:
        known = json.loads(_cache_path().read_text())
    except (OSError, ValueError):
        return {}
    return known if isinstance(known, dict) else {}


def cached_verdict(path: Path, golden: dict[str, Any]) -> Verdict | None:
    entry = _load_cache().get(_key(path, golden))
    try:
        return Verdict(**entry) if isinstance(entry, dict) else None
    except TypeError:  # written by another version: check again
        return None


def store_verdict(path: Path, golden: dict[str, Any], verdict: Verdict) -> None:
    cache = _cache_path()
    known = _load_cache()
    known[_key(path, golden)] = asdict(verdict)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        fileio.write_json(cache, known)
    except (OSError, EdgeAgeError):
        pass  # a read-only home: the check simply runs again next time


def checked(predictor: Any, make_safe: Callable[[], Any]) -> Any:
    """``predictor`` when this machine reproduces its golden outputs (or the file has none), else its
    safe path when that one does (said in one line on stderr); otherwise an EdgeAgeError."""
    golden = golden_of(predictor)
    if golden is None:
        return predictor
    make_safe = functools.cache(make_safe)  # built once whether the check or the caller needs it first
    path = Path(predictor.path)
    verdict = cached_verdict(path, golden)
    if verdict is None:
        verdict = run_check(predictor, make_safe, golden)
        store_verdict(path, golden, verdict)
    if verdict.ok:
        return predictor
    if verdict.safe_ok:
        print(f"edge-age: {path.name}: this machine's {predictor.runtime} gives {_off(verdict.median_diff)}; "
              f"using its safe path ({SAFE_PATH[predictor.runtime]}), "
              "which reproduces them", file=sys.stderr)
        return make_safe()
    raise EdgeAgeError(f"this machine's {predictor.runtime} gives {_off(verdict.median_diff)}, "
                       f"and {_off(verdict.safe_median_diff, short=True)} on its safe path "
                       f"({SAFE_PATH[predictor.runtime]}): its ages would be wrong; try another model file "
                       "or runtime version", path)


def check_files(files: list[str], threads: int = 0) -> list[dict[str, Any]]:
    """``edge-age check``: a fresh verdict per file (cached for later runs)."""
    rows = []
    for f in [Path(x) for x in files] or [bundled_reference("tflite_int8"), bundled_reference("onnx_int8")]:
        predictor = open_model(f, threads=threads or None)
        golden = golden_of(predictor)
        if golden is None:
            rows.append({"file": str(f), "runtime": predictor.runtime, "golden": False})
            continue
        verdict = run_check(predictor, safe_opener(f, threads or None), golden)
        store_verdict(f, golden, verdict)
        rows.append({"file": str(f), "runtime": predictor.runtime, "golden": True, "n": golden["n"],
                     "tolerance": golden["tolerance"], **asdict(verdict), "usable": verdict.usable})
    return rows


def format_checks(rows: list[dict[str, Any]]) -> str:
    lines = []
    for r in rows:
        if not r["golden"]:
            why = ("a training checkpoint: only exported files carry golden outputs; export it and check the "
                   "exported file" if r["runtime"] == "torch" else "exported before they existed")
            lines.append(f"{r['file']}: no golden outputs in its card ({why}); not checked")
        elif r["ok"]:
            lines.append(f"{r['file']}: ok, {r['runtime']} reproduces its {r['n']} golden ages (median |diff| "
                         f"{r['median_diff']:.3f}, max {r['max_diff']:.3f} years; bound {r['tolerance']})")
        else:
            safe = SAFE_PATH[r["runtime"]]
            lines.append(f"{r['file']}: MISMATCH, {r['runtime']} is {r['median_diff']:.1f} years (median) off its "
                         f"golden ages; {safe}: " + (f"ok ({r['safe_median_diff']:.3f}), used instead"
                                                     if r["safe_ok"] else f"also off ({r['safe_median_diff']:.1f}): "
                                                     "this file is refused on this machine"))
    return "\n".join(lines)
