"""Face framing (part of contract 1): from a detection to the square crop the model was trained on.

A detector says where a face is (a box, and eye points where it finds them); the model was trained
on aligned chips with their own framing (how much forehead, chin and background, eyes level). The
:class:`Framing` maps one to the other. Its numbers are fitted from data by
:mod:`edge_age.data.framing_fit` (the project's own detector run over training chips placed in
larger scenes, where the chip's square is known), stored in the checkpoint, copied into the model
card and ONNX metadata by export, and read back by every runtime and by the Kotlin core.

The crop itself is one rotated square sampled with fixed-point bilinear weights
(:func:`warp_square`), written so that the Kotlin core reproduces it byte for byte: only IEEE double
additions, multiplications, divisions, ``floor`` and ``sqrt`` (no trigonometry) decide which source
pixels and weights are used.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from edge_age.errors import EdgeAgeError

# A card whose chips were resized with bilinear_exact (every shipped card) gets its crop sampled straight at the
# model's side: the same 2 x 2 bilinear taps as the chips' resize, at a cost that grows with the model's input,
# not the face (lab/crop_cost.json). Other interpolations, and cards that denoise the crop before the resize,
# sample at about one source pixel per output pixel, then resize with the spec's interpolation, capped so that a
# face filling a 12 MP photo costs no more than a (4 x size)^2 sample.
DIRECT_INTERPOLATION = "bilinear_exact"
MAX_SAMPLE_FACTOR = 4
DETECTORS = ("mtcnn", "haar", "blazeface")  # edge_age.data.faces; the first is what new framings are fitted for
_LABELS = ("fitted_on", "detector")  # the framing's fields that are not numbers of its rules


@dataclass(frozen=True)
class Framing:
    """How a detection maps to the training chips' square (all lengths relative to the detection).

    Box rule: centre = box centre + R(box angle) (box_dx, box_dy) x box side; side = box_scale x box side.
    Eye rule (used when both eyes are known and ``eye_scale`` > 0): with d the eye distance and R the
    rotation that makes the eye line level, centre = eye midpoint + R (eye_dx, eye_dy) x d,
    side = eye_scale x d, rotated by the eye line's angle plus ``eye_angle`` degrees.

    The defaults are the values ``edge-age data framing`` fitted on the UTKFace train split with the
    MTCNN detector (edge_age/reference/framing_mtcnn.json); a model trained on other chips gets its own fit.
    """

    box_dx: float = 0.0215
    box_dy: float = 0.0766
    box_scale: float = 1.0256
    eye_dx: float = 0.0124
    eye_dy: float = 0.5358
    eye_scale: float = 2.5293  # 0: the eye rule is off, the box rule frames every face
    eye_angle: float = -0.0073
    fitted_on: str = "UTKFace train split, 1753 faces in scenes, mtcnn detector (edge-age defaults)"
    detector: str = DETECTORS[0]  # whose boxes and eyes these rules were fitted on; runtimes detect with it

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name not in _LABELS and not (isinstance(v, (int, float)) and math.isfinite(v)):
                raise EdgeAgeError(f"framing field {f.name} must be a finite number, got {v!r}")
        if self.detector not in DETECTORS:
            raise EdgeAgeError(f"framing detector {self.detector!r} is not one of {', '.join(DETECTORS)}")
        if not 0.2 <= self.box_scale <= 10:
            raise EdgeAgeError(f"framing box_scale {self.box_scale} is outside 0.2-10")
        if self.eye_scale and not 0.5 <= self.eye_scale <= 20:
            raise EdgeAgeError(f"framing eye_scale {self.eye_scale} is outside 0.5-20")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Framing":
        if not isinstance(d, dict):
            raise EdgeAgeError(f"framing must be a mapping of framing fields (a JSON object), got {d!r}")
        unknown = set(d) - {f.name for f in fields(cls)}
        if unknown:
            raise EdgeAgeError(f"unknown framing fields {sorted(unknown)}")
        return cls(**{"detector": "haar", **d})  # framings written before MTCNN were fitted on Haar boxes

    @classmethod
    def from_margin(cls, margin: float) -> "Framing":
        """A card written before framings existed: a centred box grown by ``margin`` x side per side."""
        return cls(box_scale=1 + 2 * float(margin), fitted_on=f"face_margin {margin} (older card)", detector="haar")


RULE_FIELDS = tuple(f.name for f in fields(Framing) if f.name not in _LABELS)  # what a fit estimates


@dataclass(frozen=True)
class Detection:
    """One face as a detector reports it, in image pixels (pixel i covers [i, i+1)).

    ``angle`` is the rotation (degrees, clockwise on screen) of the image in which the box was found:
    the box is then a square turned by that angle about its centre. Eyes are the image-left and
    image-right eye centres, or None.
    """

    x: float
    y: float
    w: float
    h: float
    angle: float = 0.0
    eyes: tuple[tuple[float, float], tuple[float, float]] | None = None

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"box": [round(v, 1) for v in (self.x, self.y, self.w, self.h)]}
        if self.angle:
            d["box_angle"] = round(self.angle, 1)
        d["eyes"] = None if self.eyes is None else [[round(v, 1) for v in e] for e in self.eyes]
        return d


@dataclass(frozen=True)
class Square:
    """A square in image pixels: centre, side, and the unit vector of its x axis (cos, sin)."""

    cx: float
    cy: float
    side: float
    cos: float = 1.0
    sin: float = 0.0

    @classmethod
    def turned(cls, cx: float, cy: float, side: float, degrees: float) -> "Square":
        """A square turned by ``degrees`` (clockwise on screen) about its centre."""
        a = math.radians(degrees)
        return cls(cx, cy, side, math.cos(a), math.sin(a))

    @property
    def angle(self) -> float:
        return math.degrees(math.atan2(self.sin, self.cos))

    def corners(self) -> np.ndarray:
        """4 x 2 corners (top-left, top-right, bottom-right, bottom-left) for drawing."""
        h = self.side / 2
        ex, ey = np.array([self.cos, self.sin]), np.array([-self.sin, self.cos])
        c = np.array([self.cx, self.cy])
        return np.stack([c + (-h) * ex + (-h) * ey, c + h * ex + (-h) * ey, c + h * ex + h * ey, c + (-h) * ex + h * ey])


def _rotate(cos: float, sin: float, degrees: float) -> tuple[float, float]:
    if not degrees:
        return cos, sin
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return cos * c - sin * s, sin * c + cos * s


def box_square(det: Detection, framing: Framing) -> Square:
    """The box rule."""
    side = (det.w + det.h) / 2
    cos, sin = _rotate(1.0, 0.0, det.angle)
    bx, by = det.center
    dx, dy = framing.box_dx * side, framing.box_dy * side
    return Square(bx + dx * cos - dy * sin, by + dx * sin + dy * cos, framing.box_scale * side, cos, sin)


def eye_square(left: tuple[float, float], right: tuple[float, float], framing: Framing) -> Square:
    """The eye rule (the Kotlin core computes the same from Android's eye midpoint and distance)."""
    vx, vy = right[0] - left[0], right[1] - left[1]
    d = math.sqrt(vx * vx + vy * vy)
    if d <= 0:
        raise EdgeAgeError("eye points coincide")
    cos, sin = _rotate(vx / d, vy / d, framing.eye_angle)
    mx, my = (left[0] + right[0]) / 2, (left[1] + right[1]) / 2
    dx, dy = framing.eye_dx * d, framing.eye_dy * d
    return Square(mx + dx * cos - dy * sin, my + dx * sin + dy * cos, framing.eye_scale * d, cos, sin)


def frame(det: Detection, framing: Framing) -> Square:
    """The square to crop for ``det``: the eye rule where eyes are known and fitted, else the box rule."""
    if det.eyes is not None and framing.eye_scale > 0:
        return eye_square(det.eyes[0], det.eyes[1], framing)
    return box_square(det, framing)


def sample_side(square: Square, size: int, direct: bool) -> int:
    """Pixels per side of the rotated sample: the model's size where the crop is sampled directly (see
    DIRECT_INTERPOLATION), else about one per source pixel (at least the model's size, at most
    MAX_SAMPLE_FACTOR times it)."""
    if direct:
        return size
    return int(min(max(math.floor(square.side + 0.5), size), MAX_SAMPLE_FACTOR * size))


def warp_square(img: np.ndarray, square: Square, out: int) -> np.ndarray:
    """Sample ``square`` of ``img`` (H x W x C uint8) into ``out x out`` with fixed-point bilinear weights.

    Output pixel (u, v) takes the source point centre + a (cos, sin) + b (-sin, cos), with
    a = ((u + 0.5) / out - 0.5) x side (b likewise from v); weights are rounded to 1/256 as in
    OpenCV's exact bilinear; pixels outside the image repeat the nearest edge pixel.
    """
    h, w = img.shape[:2]
    t = ((np.arange(out, dtype=np.float64) + 0.5) / out - 0.5) * square.side
    a, b = t[None, :], t[:, None]
    sx = square.cx + a * square.cos - b * square.sin - 0.5
    sy = square.cy + a * square.sin + b * square.cos - 0.5
    x0, wx = _split(sx)
    y0, wy = _split(sy)
    xa, xb = np.clip(x0, 0, w - 1), np.clip(x0 + 1, 0, w - 1)
    ya, yb = np.clip(y0, 0, h - 1) * w, np.clip(y0 + 1, 0, h - 1) * w
    # Only the four neighbours of each output pixel are read and widened (never the whole photo: its cost
    # would grow with the photo, not the crop), by flat index (``take`` is several times faster than 2-D fancy
    # indexing here). int32 holds the largest sum, 255 * 256 * 256 + 32768.
    flat = img.reshape(h * w, -1)
    wx, wy = wx[..., None].astype(np.int32), wy[..., None].astype(np.int32)

    def at(i: np.ndarray) -> np.ndarray:
        return flat.take(i, axis=0).astype(np.int32)

    top = at(ya + xa) * (256 - wx) + at(ya + xb) * wx
    bottom = at(yb + xa) * (256 - wx) + at(yb + xb) * wx
    return ((top * (256 - wy) + bottom * wy + 32768) >> 16).astype(np.uint8)


def _split(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer part and fractional weight in 1/256 (a weight of 256 moves to the next pixel)."""
    i = np.floor(s)
    f = np.floor((s - i) * 256 + 0.5).astype(np.int64)
    i = i.astype(np.int64)
    carry = f == 256
    return i + carry, np.where(carry, 0, f)


def crop_detection(img: np.ndarray, det: Detection, framing: Framing, size: int, direct: bool
                   ) -> tuple[np.ndarray, Square]:
    """The face of ``det`` as an upright square crop (BGR), ready for ``prepare_face``; and its square.
    ``direct``: sampled straight at ``size`` (``preprocess.crop_face`` decides from the card)."""
    square = frame(det, framing)
    return warp_square(img, square, sample_side(square, size, direct)), square
