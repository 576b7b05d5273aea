"""Contract 1: the one preprocessing spec, and the numpy/OpenCV code that applies it.

Training stores :class:`PreprocessSpec` in the checkpoint; export copies it into the model card;
the runtime, the bench and the Android core read it from there. Nothing else may hard-code the
input size, colour order or normalisation.

Pixels flow in two steps so that the expensive part can be cached:

1. :func:`prepare_face` -- decoded image -> square uint8 crop ``size x size x 3`` in RGB
   (optional denoise/deblur). This is what the cache stores and what every predictor takes.
2. :func:`normalize` -- uint8 crops -> float32 ``(x - mean) / std`` in the model's layout.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# Images larger than this are refused before decoding: a 12000x12000 JPEG would need ~430 MB.
MAX_PIXELS = 64_000_000
# OpenCV's decoders get the same cap (their default allows 2^30, ~3 GB of BGR); read by OpenCV at its
# first decode, so set before cv2 is imported; a value the user set wins.
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_PIXELS))
# A file OpenCV cannot decode is reported by us in one line naming it; its decoders' own log lines
# ("[ERROR:0] global grfmt_tiff.cpp ...") would only repeat that, unnamed.
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")

import cv2  # noqa: E402  (after the cap above)
import numpy as np

from edge_age.data.framing import DIRECT_INTERPOLATION, Detection, Framing, Square, crop_detection
from edge_age.errors import EdgeAgeError

# ImageNet statistics in 0-255 pixel units: the MobileNetV2 weights in the torch hub expect them,
# and they work as well as any other choice for models trained from scratch.
IMAGENET_MEAN = (123.675, 116.28, 103.53)
IMAGENET_STD = (58.395, 57.12, 57.375)


@dataclass(frozen=True)
class PreprocessSpec:
    """Everything needed to turn a photo into the model's input tensor."""

    size: int = 128
    color_order: str = "RGB"
    layout: str = "NCHW"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    # OpenCV's INTER_LINEAR_EXACT: bilinear in 8-bit fixed point, documented bit-exact across
    # platforms (INTER_LINEAR may take IPP or ARM HAL paths that differ by one level), so the
    # Android core reproduces the training crops byte for byte.
    interpolation: str = "bilinear_exact"
    # How a detection (--detect-faces, the app's detector) maps to the crop that matches the chips
    # the model was trained on; fitted from data (edge_age.data.framing_fit).
    framing: Framing = field(default_factory=Framing)
    denoise: bool = False
    deblur: bool = False
    # True in exported files that normalise inside (``(x - mean) / std`` is their first op): they take the
    # resized crop's pixel values as they are -- float 0..255, or int8 ``pixel - 128`` in int8 TFLite
    # files -- and mean/std here only document what the model does. False: checkpoints, older files.
    input_pixels: bool = False

    def __post_init__(self) -> None:
        """Cards and ONNX metadata are input too: wrong types or lengths are one-line errors here."""
        def bad(what: str) -> EdgeAgeError:
            return EdgeAgeError(f"preprocessing spec: {what}")

        if not isinstance(self.size, int) or isinstance(self.size, bool) or not 2 <= self.size <= 4096:
            raise bad(f"size must be an integer from 2 to 4096, got {self.size!r}")
        for key in ("mean", "std"):
            v = getattr(self, key)
            if (not isinstance(v, (tuple, list)) or len(v) != 3
                    or not all(isinstance(x, (int, float)) and math.isfinite(x) for x in v)):
                raise bad(f"{key} must be 3 finite numbers (R, G, B), got {v!r}")
        if not all(x > 0 for x in self.std):
            raise bad(f"std must be positive, got {self.std!r}")
        if self.layout not in ("NCHW", "NHWC"):
            raise bad(f"layout must be NCHW or NHWC, got {self.layout!r}")
        if self.color_order not in ("RGB", "BGR"):
            raise bad(f"color_order must be RGB or BGR, got {self.color_order!r}")
        if self.interpolation not in INTERPOLATIONS:
            raise bad(f"unknown interpolation {self.interpolation!r}; choose from {', '.join(INTERPOLATIONS)}")
        if not isinstance(self.framing, Framing):
            raise bad(f"framing must be a mapping of framing fields, got {type(self.framing).__name__}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"] = list(self.mean)
        d["std"] = list(self.std)
        d["framing"] = self.framing.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "PreprocessSpec":
        known = {f.name for f in fields(cls)} | {"face_margin", "extra"}
        unknown = set(d) - known
        if unknown:
            raise EdgeAgeError(f"unknown preprocessing fields {sorted(unknown)}")
        kw = dict(d)
        if "face_margin" in kw:  # cards and checkpoints written before framings existed
            margin = kw.pop("face_margin")
            kw.setdefault("framing", Framing.from_margin(margin).to_dict())
        kw.pop("extra", None)  # an unused field of older cards
        for key in ("denoise", "deblur", "input_pixels"):  # flags: "no" or 0 would read as a truth value
            if key in kw and not isinstance(kw[key], bool):
                raise EdgeAgeError(f"preprocessing spec: {key} must be true or false, got {kw[key]!r}")
        if "framing" in kw:
            kw["framing"] = Framing.from_dict(kw["framing"])
        for key in ("mean", "std"):
            if key in kw:
                v = kw[key]
                if not isinstance(v, (list, tuple)) or not all(
                        isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
                    raise EdgeAgeError(f"preprocessing spec: {key} must be 3 numbers (R, G, B), got {v!r}")
                kw[key] = tuple(float(x) for x in v)
        return cls(**kw)

    def cache_key(self) -> dict[str, Any]:
        """Fields that change the cached uint8 pixels (normalisation and layout do not)."""
        return {
            "size": self.size,
            "color_order": self.color_order,
            "interpolation": self.interpolation,
            "denoise": self.denoise,
            "deblur": self.deblur,
        }


INTERPOLATIONS = ("bilinear_exact", "bilinear", "area", "nearest")
_INTERP = {
    "bilinear_exact": cv2.INTER_LINEAR_EXACT,
    "bilinear": cv2.INTER_LINEAR,
    "area": cv2.INTER_AREA,
    "nearest": cv2.INTER_NEAREST,
}


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode encoded image bytes to an 8-bit BGR array, honouring EXIF orientation.

    Grayscale, alpha and 16-bit inputs are converted by OpenCV's IMREAD_COLOR; anything OpenCV
    cannot decode raises :class:`EdgeAgeError` naming the file.
    """
    if not data:
        raise EdgeAgeError("empty file (0 bytes)", name)
    buf = np.frombuffer(data, dtype=np.uint8)
    _check_dimensions(data, name)
    _check_jpeg_complete(data, name)
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error as e:  # OpenCV's own checks, e.g. its pixel cap on a format Pillow did not read
        reason = "over the pixel limit" if "pixels" in str(e) else "rejected by the decoder"
        raise EdgeAgeError(f"not a readable image ({reason}; limit {MAX_PIXELS:,} pixels)", name) from None
    if img is None:
        raise EdgeAgeError("not a readable image (corrupt, truncated or unsupported format)", name)
    if img.shape[0] < 2 or img.shape[1] < 2:
        raise EdgeAgeError(f"image is too small ({img.shape[1]}x{img.shape[0]} pixels)", name)
    return img


def _check_jpeg_complete(data: bytes, name: str) -> None:
    """Refuse a JPEG whose data ends before its image does, judged by decoding it.

    libjpeg fills a cut-off scan with grey and OpenCV returns that without complaint, so OpenCV cannot tell.
    A file that ends with the end-of-image marker (FF D9, which byte stuffing keeps out of the scan data) is
    complete; any other JPEG -- bytes after the marker (phone motion photos, zero padding) or none at all -- is
    decoded by Pillow at 1/8 scale (its DCT scaling still reads every scan), which raises on running out of data.
    """
    if data[:2] != b"\xff\xd8" or data[-2:] == b"\xff\xd9":
        return
    import io
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                im.draft("RGB", (max(1, im.size[0] // 8), max(1, im.size[1] // 8)))
                im.load()
    except OSError as e:
        if "truncated" in str(e).lower():
            raise EdgeAgeError("truncated JPEG (its data ends before the image does)", name) from None
    except Exception:
        return  # some other oddity: OpenCV's decode below judges it


def _check_dimensions(data: bytes, name: str) -> None:
    """Refuse absurdly large images from their header, before anything is decoded.

    Pillow reads the size from the header (its own bomb guard raises for the largest; that is a refusal
    too, never a pass). Formats Pillow cannot read go to OpenCV, whose decoders are capped at the same
    pixel count through ``OPENCV_IO_MAX_IMAGE_PIXELS`` (set at the top of this module).
    """
    import io
    import warnings

    try:
        from PIL import Image
    except ImportError:  # optional: OpenCV's cap still holds
        return
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # header oddities (corrupt EXIF, ...) are judged by the decode below
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
    except Image.DecompressionBombError as e:
        raise EdgeAgeError(f"image is too large ({e}); limit {MAX_PIXELS:,} pixels", name) from None
    except Exception:
        return  # not a format Pillow knows: OpenCV decides, under its pixel cap
    if w * h > MAX_PIXELS:
        raise EdgeAgeError(f"image is too large ({w}x{h} pixels, limit {MAX_PIXELS:,})", name)


def center_square(img: np.ndarray) -> np.ndarray:
    """Central square crop; aligned face chips are square already, so this is a no-op for them."""
    h, w = img.shape[:2]
    s = min(h, w)
    y0, x0 = (h - s) // 2, (w - s) // 2
    return img[y0 : y0 + s, x0 : x0 + s]


def prepare_face(img_bgr: np.ndarray, spec: PreprocessSpec) -> np.ndarray:
    """Square face crop (BGR, any size) -> uint8 ``size x size x 3`` in the spec's colour order."""
    img = center_square(img_bgr)
    if spec.denoise:
        # Non-local means is slow but preserves skin texture better than a blur (seed 001).
        img = cv2.fastNlMeansDenoisingColored(img, None, 5, 5, 7, 21)
    img = cv2.resize(img, (spec.size, spec.size), interpolation=_INTERP[spec.interpolation])
    if spec.deblur:
        # Unsharp mask: restores edges that resizing and JPEG blur away (seed 001).
        blur = cv2.GaussianBlur(img, (0, 0), 1.0)
        img = cv2.addWeighted(img, 1.5, blur, -0.5, 0)
    if spec.color_order == "RGB":
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    elif spec.color_order != "BGR":
        raise EdgeAgeError(f"unknown colour order {spec.color_order!r}")
    return np.ascontiguousarray(img)


def crop_face(img_bgr: np.ndarray, det: Detection, spec: PreprocessSpec) -> tuple[np.ndarray, Square]:
    """The face of ``det`` framed and sampled as the card says (its framing, size and interpolation), ready for
    ``prepare_face``; and its square."""
    direct = spec.interpolation == DIRECT_INTERPOLATION and not spec.denoise  # denoising wants the face's own pixels
    return crop_detection(img_bgr, det, spec.framing, spec.size, direct)


def normalize(faces: np.ndarray, spec: PreprocessSpec, layout: str | None = None) -> np.ndarray:
    """uint8 ``N x H x W x 3`` crops -> float32 model input in ``layout`` (default: spec's): the pixel values
    for files that normalise inside (``spec.input_pixels``), else ``(x - mean) / std``."""
    if faces.ndim == 3:
        faces = faces[None]
    x = faces.astype(np.float32)
    if not spec.input_pixels:
        x = (x - np.asarray(spec.mean, dtype=np.float32)) / np.asarray(spec.std, dtype=np.float32)
    if (layout or spec.layout) == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x)


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype: np.dtype = np.int8) -> np.ndarray:
    """Float tensor -> int8/uint8 with a file's own scale and zero-point (round half to even, as TFLite)."""
    info = np.iinfo(dtype)
    q = np.round(x / np.float32(scale)) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return (q.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)
