"""Face detection for raw photos (``--detect-faces``): boxes and eye points, ready for the framing.

Three detectors, none with a download or torch; a framing names the one it was fitted with
(``Framing.detector``), and every caller detects with that one, so a crop is always framed by the
rule fitted on that detector's own boxes and eyes:

- ``mtcnn`` (new fits): MTCNN's three networks on ONNX Runtime (:mod:`edge_age.data.mtcnn`); it
  gives the eye centres of every face it finds (lab/photo_path_history.md has both detectors' rates).
- ``blazeface``: MediaPipe's BlazeFace on LiteRT (:mod:`edge_age.data.blazeface`: full-range, short-range for the
  fallback passes); eyes on every face, several times faster than MTCNN (lab/detector_compare.json); the Android
  app runs the same files with the same decode, cascade and framing (android_demo/.../core/BlazeFace.kt, Cascade.kt; golden-tested).
- ``haar`` (cards fitted before MTCNN): OpenCV's Haar cascades from opencv-python(-headless) 4.x,
  with a separate eye cascade that finds an eye pair in about three faces of four.

The first pass finds upright faces whose whole head is in view; fallbacks cover what it misses on its
own, each tried only when the previous pass found nothing (so a photo without a face pays for all of them):

- a tight chip (the face fills the image): the canvas is extended with replicated edges;
- a face turned in the image plane beyond ~15 degrees: the image is turned by +-``angle`` first;
- (BlazeFace) a face too small for its fixed 192 px input: two overlapping windows of the photo, each on its own.

With Haar, the eye cascade looks for one eye in each upper quarter of a face box; a pair that is
plausible (distance, level) becomes the face's eye points, which the framing uses to level the eyes.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from edge_age.data import blazeface, mtcnn
from edge_age.data.framing import DETECTORS, Detection, Framing
from edge_age.errors import EdgeAgeError

_per_thread = threading.local()
# Raised whenever a change here or in the crop (edge_age.data.framing) changes what a detected face's crop is:
# caches of detected faces are keyed by it. 2: crops sampled straight at the model's side; 3: BlazeFace's halves
# pass skips photos near square; 4: BlazeFace's tight-chip and turned passes run its short-range network.
PATH_VERSION = 4


@dataclass(frozen=True)
class Pass:
    """One detection pass: extend the canvas or not, turn it by ``angle`` degrees, equalise or not."""

    pad: bool = False
    angle: float = 0.0
    equalize: bool = True
    neighbors: int = 5  # the cascade's minNeighbors: lower finds more faces and more false ones
    need_eyes: bool = False  # keep only boxes with an eye pair (the permissive passes' false boxes on a
    # cheek or a nose have none)
    halves: bool = False  # two overlapping windows of HALF_WINDOW of the photo along its longer side, each
    # given to the detector on its own: faces too small for a fixed-input detector at the whole photo's scale
    network: str = "full"  # BlazeFace: which of its networks (blazeface.NETWORKS) runs this pass

    def as_dict(self) -> dict[str, object]:
        return {"pad": self.pad, "angle": self.angle, "halves": self.halves, "network": self.network}


# Tried in order until one finds a face (lab/detector_passes.json counts what each pass finds): the
# photo as is; a tight chip on an extended canvas; then, more permissive, the photo un-equalised and
# turned by up to +-25 degrees for heads leaning beyond the cascade's ~15 degree tolerance.
DEFAULT_PASSES = (
    Pass(), Pass(pad=True), Pass(equalize=False, neighbors=3, need_eyes=True),
    *(Pass(angle=a, equalize=False, neighbors=3, need_eyes=True) for a in (-12.0, 12.0, -25.0, 25.0)),
)


# MTCNN finds faces leaning up to ~15 degrees and always has eyes; its fallbacks: a tight chip on an extended
# canvas, then the photo turned by +-12 and +-25 degrees.
MTCNN_PASSES = (Pass(), Pass(pad=True), *(Pass(angle=a) for a in (-12.0, 12.0, -25.0, 25.0)))

# BlazeFace full-range sees its input at 192 x 192, so small faces are what it misses, and it finds faces leaning
# up to ~20 degrees: the halves first, then the tight chip and +-25 degrees (lab/blazeface_cascade.json measures
# each choice: faces found on faces in context and on chips, and what a photo without a face pays). Those last
# three look for a face that fills much of the view, which the short-range network (a third of the cost) finds
# as well or better: more chips found, fewer false faces, 9 ms less for a photo without a face
# (lab/blazeface_short_range.json).
BLAZEFACE_PASSES = (Pass(), Pass(halves=True), *(Pass(pad=True, network="short"), Pass(angle=-25.0, network="short"),
                                                 Pass(angle=25.0, network="short")))
HALF_WINDOW = 0.6  # each window's share of the longer side (the two overlap by 2 x 0.6 - 1 = 20%)
HALF_MIN_ASPECT = 1.2  # the faces grow by min(aspect, 1 / HALF_WINDOW) in a window: not worth two passes below this
_OWN_PASSES = {"haar": DEFAULT_PASSES, "mtcnn": MTCNN_PASSES, "blazeface": BLAZEFACE_PASSES}


# The longest side each detector works at: no detector gains from 12 MP. BlazeFace sees a 192 px input whatever it is
# given; twice that keeps each pass's extended or turned view sharp at the input while costing little to make.
WORKING_SIDE = {"mtcnn": 1024, "haar": 1024, "blazeface": 2 * blazeface.SIDE}


@dataclass(frozen=True)
class DetectConfig:
    detector: str = DETECTORS[0]  # one of framing.DETECTORS
    min_size: int = 24  # smallest face side in pixels of the (downscaled) working image: with BlazeFace's 384 px
    # working side, a face under 1/16 of the photo's longer side (which its 192 px input cannot resolve anyway)
    max_side: int | None = None  # photos are downscaled to this longest side first; None: the detector's WORKING_SIDE
    pad: float = 0.5  # tight-chip pass: extend each side by this fraction of the longest side
    passes: tuple[Pass, ...] | None = None  # None: the detector's own (DEFAULT_PASSES, MTCNN_PASSES, BLAZEFACE_PASSES)
    eyes: bool = True  # Haar: look for eye pairs (MTCNN always has them)

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise EdgeAgeError(f"unknown face detector {self.detector!r}; known: {', '.join(DETECTORS)}")

    @classmethod
    def for_framing(cls, framing: Framing) -> "DetectConfig":
        """The detector the framing was fitted with: its rule is only right for that detector's boxes."""
        return cls(detector=framing.detector)

    def working_side(self) -> int:
        return self.max_side or WORKING_SIDE[self.detector]

    def pass_list(self) -> tuple[Pass, ...]:
        return self.passes if self.passes is not None else _OWN_PASSES[self.detector]


def _cascade(name: str) -> "cv2.CascadeClassifier":
    """One classifier per thread and file: ``detectMultiScale`` on a shared instance is not thread-safe.

    Found by the three-faces test: with the cache's thread pool sharing one classifier, a photo
    with no face came back with a "face" found (the results of another thread's image).
    """
    cache = getattr(_per_thread, "cascades", None)
    if cache is None:
        cache = _per_thread.cascades = {}
    if name not in cache:
        path = cv2.data.haarcascades + name
        cascade = cv2.CascadeClassifier(path)
        if cascade.empty():
            raise RuntimeError(f"OpenCV Haar cascade missing at {path}; install opencv-python-headless<5")
        cache[name] = cascade
    return cache[name]


@dataclass(frozen=True)
class _View:
    """A working image (grey for Haar, RGB for MTCNN) and the affine map from its pixel coordinates back
    to the photo's."""

    image: np.ndarray
    back: np.ndarray  # 2 x 3
    angle: float = 0.0  # the photo turned by this (clockwise on screen) gives the view

    def to_photo(self, x: float, y: float) -> tuple[float, float]:
        # Written out (not a matrix product, which BLAS may fuse) so that the Kotlin core gets the same doubles.
        b = self.back
        return (float(b[0, 0]) * x + float(b[0, 1]) * y + float(b[0, 2]),
                float(b[1, 0]) * x + float(b[1, 1]) * y + float(b[1, 2]))

    def detection(self, x: float, y: float, w: float, h: float,
                  eyes: tuple[tuple[float, float], tuple[float, float]] | None) -> Detection:
        """A box (and eye points) found in this view, in the photo: a box turned with the view."""
        sx = math.hypot(self.back[0, 0], self.back[1, 0])  # view pixels -> photo pixels
        cx, cy = self.to_photo(x + w / 2, y + h / 2)
        pw, ph = w * sx, h * sx
        if eyes is not None:
            eyes = (self.to_photo(*eyes[0]), self.to_photo(*eyes[1]))
        return Detection(cx - pw / 2, cy - ph / 2, pw, ph, self.angle, eyes)


def _view(small: np.ndarray, inv: float, ps: Pass, pad: float) -> _View:
    """The working image of one pass (grey for Haar, RGB for MTCNN); ``small`` is the photo downscaled
    by 1 / ``inv``."""
    back = np.array([[inv, 0.0, 0.0], [0.0, inv, 0.0], [0.0, 0.0, 1.0]])
    img = cv2.equalizeHist(small) if ps.equalize and small.ndim == 2 else small
    p = int(round(pad * max(small.shape[:2]))) if ps.pad else 0
    if p:
        img = cv2.copyMakeBorder(img, p, p, p, p, cv2.BORDER_REPLICATE)
        back = back @ np.array([[1.0, 0, -p], [0, 1.0, -p], [0, 0, 1.0]])
    if ps.angle:
        # Turn the canvas counter-clockwise by the angle (OpenCV's sign), so a face leaning that
        # much clockwise stands upright; grow the canvas so no corner is cut.
        h, w = img.shape[:2]
        m = cv2.getRotationMatrix2D((w / 2, h / 2), ps.angle, 1.0)
        c, s = abs(m[0, 0]), abs(m[0, 1])
        nw, nh = int(h * s + w * c), int(h * c + w * s)
        m[:, 2] += [nw / 2 - w / 2, nh / 2 - h / 2]
        img = cv2.warpAffine(img, m, (nw, nh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        back = back @ np.vstack([cv2.invertAffineTransform(m), [0, 0, 1]])
    return _View(img, back[:2], ps.angle)


def _halves(small: np.ndarray, inv: float) -> list[_View]:
    """The two overlapping windows of the halves pass, each with its map back to the photo; none for a photo
    closer to square than HALF_MIN_ASPECT (a window keeps the short side, so there it would show faces no larger)."""
    h, w = small.shape[:2]
    if max(w, h) < HALF_MIN_ASPECT * min(w, h):
        return []
    if w >= h:
        n = int(HALF_WINDOW * w)
        return [_View(small[:, x0:x0 + n], np.array([[inv, 0.0, x0 * inv], [0.0, inv, 0.0]])) for x0 in (0, w - n)]
    n = int(HALF_WINDOW * h)
    return [_View(small[y0:y0 + n], np.array([[inv, 0.0, 0.0], [0.0, inv, y0 * inv]])) for y0 in (0, h - n)]


def _eyes(gray: np.ndarray, x: int, y: int, w: int, h: int) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """One eye in each upper quarter of the box, or None when the pair is not plausible."""
    y1 = y + int(0.6 * h)
    roi = gray[max(0, y) : y1, max(0, x) : x + w]
    if roi.size == 0:
        return None
    found = _cascade("haarcascade_eye.xml").detectMultiScale(
        roi, scaleFactor=1.1, minNeighbors=3, minSize=(max(6, w // 10),) * 2, maxSize=(max(8, w // 3),) * 2)
    mid = x + w / 2
    left, right = [], []
    for ex, ey, ew, eh in found:
        cx, cy = max(0, x) + ex + ew / 2, max(0, y) + ey + eh / 2
        if cy > y + 0.55 * h:
            continue
        (left if cx < mid else right).append((ew * eh, cx, cy))
    if not left or not right:
        return None
    (_, lx, ly), (_, rx, ry) = max(left), max(right)
    d = math.hypot(rx - lx, ry - ly)
    if not 0.25 * w <= d <= 0.6 * w or abs(ry - ly) > 0.5 * d:
        return None
    return (lx, ly), (rx, ry)


def _detect_in(view: _View, neighbors: int, cfg: DetectConfig) -> list[Detection]:
    found = _cascade("haarcascade_frontalface_default.xml").detectMultiScale(
        view.image, scaleFactor=1.1, minNeighbors=neighbors, minSize=(cfg.min_size, cfg.min_size))
    return [view.detection(x, y, w, h, _eyes(view.image, int(x), int(y), int(w), int(h)) if cfg.eyes else None)
            for x, y, w, h in found]


def _mtcnn_in(view: _View, cfg: DetectConfig) -> list[Detection]:
    """MTCNN's faces in one view, mapped back to the photo: a box turned with the view, and the eyes."""
    boxes, points = mtcnn.detect(view.image, mtcnn.MtcnnConfig(min_face=cfg.min_size))
    return [view.detection(x1, y1, x2 - x1, y2 - y1, (tuple(pts[0]), tuple(pts[1])))
            for (x1, y1, x2, y2, _), pts in zip(boxes, points)]


def blazeface_in_photo(view: _View, decoded: list[tuple[np.ndarray, float]], cfg: DetectConfig) -> list[Detection]:
    """BlazeFace's decoded faces in one view, mapped back to the photo; its first two key points are the eyes.
    (The Kotlin core's BlazeFace.inPhoto does the same, golden-tested from the raw outputs.)"""
    found = []
    for v, _ in decoded:
        v = [float(a) for a in v]  # numpy scalars would reach the JSON outputs
        x1, y1, x2, y2 = v[:4]
        if min(x2 - x1, y2 - y1) >= cfg.min_size:
            found.append(view.detection(x1, y1, x2 - x1, y2 - y1, ((v[4], v[5]), (v[6], v[7]))))
    return found


def _blazeface_in(view: _View, cfg: DetectConfig, network: str) -> list[Detection]:
    return blazeface_in_photo(view, blazeface.detect(view.image, net=blazeface.NETWORKS[network]), cfg)


def _found(view: _View, ps: Pass, cfg: DetectConfig) -> list[Detection]:
    if cfg.detector == "mtcnn":
        return _mtcnn_in(view, cfg)
    if cfg.detector == "blazeface":
        return _blazeface_in(view, cfg, ps.network)
    return _detect_in(view, ps.neighbors, cfg)


# A photo whose short side, downscaled to the detector's working side, would be under this many pixels (a 10000 x 3
# strip) holds no face any detector can find (they look for faces of DetectConfig.min_size); it is refused here,
# once for every detector and caller, rather than each pass's resize, turn or letterbox failing on a 0-pixel side.
MIN_WORKING_SHORT_SIDE = 4


def _working_scale(shape: tuple[int, ...], cfg: DetectConfig) -> float:
    """The downscale to the detector's working side; an EdgeAgeError for a photo too narrow to hold a face."""
    h, w = shape[:2]
    scale = min(1.0, cfg.working_side() / max(h, w))
    if min(h, w) * scale < MIN_WORKING_SHORT_SIDE:
        raise EdgeAgeError(f"photo too narrow to find a face in ({w}x{h} pixels: its short side would be "
                           f"{min(h, w) * scale:.1f} px at the detector's {cfg.working_side()} px working size, "
                           f"under {MIN_WORKING_SHORT_SIDE})")
    return scale


def views(img_bgr: np.ndarray, cfg: DetectConfig) -> Iterator[tuple[Pass, list[_View]]]:
    """Each pass's working images, made only when it is reached: the photo downscaled to the detector's working
    side (grey for Haar, RGB for the others), then extended, turned or cut in two."""
    scale = _working_scale(img_bgr.shape[:2], cfg)

    def down(img: np.ndarray) -> np.ndarray:
        return cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else img

    # RGB after the resize (a channel swap commutes with it, and costs less on fewer pixels); grey before it, as
    # the Haar cascades were always given it.
    if cfg.detector == "haar":
        small = down(cv2.cvtColor(img_bgr, cv2.COLOR_BGR2GRAY))
    else:
        small = cv2.cvtColor(down(img_bgr), cv2.COLOR_BGR2RGB)
    for ps in cfg.pass_list():
        yield ps, _halves(small, 1.0 / scale) if ps.halves else [_view(small, 1.0 / scale, ps, cfg.pad)]


def _distinct(found: list[Detection]) -> list[Detection]:
    """One detection per face where the halves' windows overlap: a box whose centre lies inside a larger
    one's is the same face seen twice."""
    kept: list[Detection] = []
    for d in sorted(found, key=lambda d: d.w * d.h, reverse=True):
        cx, cy = d.center
        if not any(abs(cx - k.center[0]) < k.w / 2 and abs(cy - k.center[1]) < k.h / 2 for k in kept):
            kept.append(d)
    return kept


def detect_faces(img_bgr: np.ndarray, cfg: DetectConfig = DetectConfig()) -> list[Detection]:
    """All faces found by the first pass that finds any, largest first."""
    for ps, vs in views(img_bgr, cfg):
        found = [d for view in vs for d in _found(view, ps, cfg)]
        if len(vs) > 1:
            found = _distinct(found)
        if ps.need_eyes:
            found = [d for d in found if d.eyes is not None]
        if found:
            return sorted(found, key=lambda d: d.w * d.h, reverse=True)
    return []
