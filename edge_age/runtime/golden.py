"""Golden outputs: ages a model file gives on a few seeded synthetic faces, stored in its card at export.

On another machine the same inputs must give the same ages within the file's bound (:mod:`edge_age.runtime.check`):
a device-specific kernel fault (an emulated CPU's SME path returned one age for every face) then
shows before any user photo is scored. The inputs are synthetic -- dataset images may not ship --
and made with integer arithmetic on a SplitMix64 stream only, so they are the same bytes on every
platform (no floating-point transcendental whose last bit could differ between CPUs), and the
Android core makes the same bytes (its JVM test compares them with these).
"""

from __future__ import annotations

from typing import Any

import numpy as np

GOLDEN_SEED = 0
GOLDEN_COUNT = 8
MAX_GOLDEN = 64  # a card asking for more inputs than this is refused (each is a full model input)
# How far the median of a file's ages may move between machines (years): fp32 kernels differ by rounding only;
# LiteRT int8 is integer arithmetic (the same ages on x86-64 and emulated Cortex-A72/A76); ONNX
# Runtime's int8 kernels may round differently on other CPUs (they gave the same ages on emulated aarch64,
# benchmarks/arm64.md; more room here since the synthetic inputs lie outside the training data). A
# collapsed kernel is off by tens of years.
TOLERANCE = {("tflite", "int8"): 0.5, ("onnx", "int8"): 2.0, ("tflite", "fp32"): 0.1, ("onnx", "fp32"): 0.1}
# The safe paths' reference kernels round differently on each architecture: LiteRT int8 without XNNPACK
# was 2.0 years (median) off its x86-64 golden ages under emulated aarch64 (benchmarks/arm64.md), and up
# to 1.5 on real faces. The fallback only has to be right, not bit-equal: a collapse is off by tens of years.
SAFE_TOLERANCE = {("tflite", "int8"): 4.0, ("onnx", "int8"): 4.0, ("tflite", "fp32"): 0.5, ("onnx", "fp32"): 0.5}


_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(seed: int, start: int, count: int) -> np.ndarray:
    """Draws ``start .. start+count-1`` of SplitMix64 (counter-based, so vectorised here and a few lines
    of Kotlin in the Android core, which must make the same inputs byte for byte)."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + _GAMMA * np.arange(start + 1, start + count + 1, dtype=np.uint64)
        z = (z ^ (z >> np.uint64(30))) * _MIX1
        z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


class _Draws:
    """Integers in ``[lo, hi]`` from one SplitMix64 stream (``lo + draw % (hi - lo + 1)``)."""

    def __init__(self, seed: int) -> None:
        self.seed, self.used = seed, 0

    def ints(self, lo: int, hi: int, count: int = 1) -> np.ndarray:
        raw = splitmix64(self.seed, self.used, count)
        self.used += count
        return (raw % np.uint64(hi - lo + 1)).astype(np.int64) + lo

    def int(self, lo: int, hi: int) -> int:
        return int(self.ints(lo, hi)[0])


def golden_inputs(size: int, n: int = GOLDEN_COUNT, seed: int = GOLDEN_SEED) -> np.ndarray:
    """``n`` uint8 RGB ``size`` x ``size`` synthetic faces: an oval of skin tone over a gradient, dark eyes
    and mouth, with colours, placement, shading and noise drawn per face. Integer arithmetic only, all
    divisions of non-negative numbers (Python and Kotlin round those alike)."""
    rng = _Draws(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.int64)
    out = np.empty((n, size, size, 3), np.uint8)
    for k in range(n):
        skin, back = rng.ints(60, 235, 3), rng.ints(0, 255, 3)
        cx, cy = size * rng.int(40, 60) // 100, size * rng.int(42, 58) // 100
        ax, ay = size * rng.int(28, 40) // 100, size * rng.int(36, 48) // 100
        shade, fade = rng.int(0, 60), rng.int(0, 40)
        img = back[None, None, :] + (yy * shade // size)[..., None]  # the background darkens or lightens down
        face = (xx - cx) ** 2 * ay * ay + (yy - cy) ** 2 * ax * ax <= (ax * ay) ** 2
        img = np.where(face[..., None], skin[None, None, :] + (yy * fade // size)[..., None], img)
        eye_dx, eye_y, r = ax * 4 // 10, cy - ay // 5, max(1, size // 20)
        for ex in (cx - eye_dx, cx + eye_dx):
            img = np.where((((xx - ex) ** 2 + (yy - eye_y) ** 2) <= r * r)[..., None], skin // 4, img)
        mouth = (np.abs(xx - cx) <= ax * 4 // 10) & (np.abs(yy - (cy + ay * 5 // 10)) <= max(1, size // 40))
        img = np.where(mouth[..., None], skin // 2, img)
        amp = rng.int(1, 30)
        img = img + rng.ints(0, 2 * amp, size * size * 3).reshape(size, size, 3) - amp
        out[k] = np.clip(img, 0, 255).astype(np.uint8)
    return out


def golden_ages(predictor: Any, n: int = GOLDEN_COUNT, seed: int = GOLDEN_SEED) -> list[float]:
    """The file's ages of the golden inputs made with the card's ``n`` and ``seed``."""
    ages = np.asarray(predictor.predict(golden_inputs(predictor.spec.size, n, seed)), dtype=np.float64).reshape(-1)
    return [round(float(a), 4) for a in ages]


def golden_entry(fast: Any, safe: Any, family: str, precision: str) -> dict[str, Any]:
    """What the card stores for one file: the inputs' recipe, the ages of the runtime's default path
    (``fast``) and of its fallback (``safe``: no XNNPACK / no graph optimisation; its int8 rounding
    differs, so it has ages of its own), and the bound on the median difference."""
    return {"seed": GOLDEN_SEED, "n": GOLDEN_COUNT, "ages": golden_ages(fast), "ages_safe": golden_ages(safe),
            "tolerance": TOLERANCE[(family, precision)], "tolerance_safe": SAFE_TOLERANCE[(family, precision)]}
