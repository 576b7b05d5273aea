"""``edge-age check``: a fresh golden-output verdict per model file, printed and cached. Imports no torch."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from edge_age.formats import bundled_reference, format_of
from edge_age.runtime import load_predictor
from edge_age.runtime.check import SAFE_PATH, golden_of, run_check, store_verdict


def check_files(files: list[str], threads: int = 0) -> list[dict[str, Any]]:
    """``edge-age check``: a fresh verdict per file (cached for later runs)."""
    rows = []
    for f in [Path(x) for x in files] or [bundled_reference("tflite_int8"), bundled_reference("onnx_int8")]:
        predictor = load_predictor(f, threads=threads or None, check=False)
        golden = golden_of(predictor)
        if golden is None:
            rows.append({"file": str(f), "runtime": predictor.runtime, "golden": False})
            continue
        cls = format_of(f).load_predictor()
        verdict = run_check(predictor, lambda: cls(f, threads=threads or None, safe=True), golden)
        store_verdict(f, golden, verdict)
        rows.append({"file": str(f), "runtime": predictor.runtime, "golden": True, "n": golden["n"],
                     "tolerance": golden["tolerance"], **asdict(verdict), "usable": verdict.usable})
    return rows


def format_checks(rows: list[dict[str, Any]]) -> str:
    lines = []
    for r in rows:
        if not r["golden"]:
            lines.append(f"{r['file']}: no golden outputs in its card (exported before they existed); not checked")
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
