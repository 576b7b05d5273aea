"""The preprocessing spec and its numpy/OpenCV implementation (contract 1)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from conftest import face_image
from edge_age.data.preprocess import PreprocessSpec, decode_image, normalize, prepare_face
from edge_age.errors import EdgeAgeError


def _encode(img: np.ndarray, ext: str = ".jpg") -> bytes:
    ok, buf = cv2.imencode(ext, img)
    assert ok
    return buf.tobytes()


def test_spec_round_trips_through_dict() -> None:
    spec = PreprocessSpec(size=96, denoise=True)
    assert PreprocessSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(EdgeAgeError, match="unknown preprocessing fields"):
        PreprocessSpec.from_dict({**spec.to_dict(), "bogus": 1})


@pytest.mark.parametrize("data,match", [(b"", "empty file"), (b"hello, not a jpeg", "not a readable image")])
def test_decode_errors_name_the_file(data: bytes, match: str) -> None:
    with pytest.raises(EdgeAgeError, match=rf"x\.jpg: .*{match}"):
        decode_image(data, "x.jpg")


def test_truncated_jpeg_is_rejected() -> None:
    data = _encode(face_image(30, 0, size=128))
    with pytest.raises(EdgeAgeError, match=r"cut\.jpg: truncated JPEG"):
        decode_image(data[: len(data) // 3], "cut.jpg")
    assert decode_image(data + b"\x00" * 100, "padded.jpg").shape == (128, 128, 3)  # trailing bytes are fine


@pytest.mark.parametrize("variant", ["gray", "alpha", "png16"])
def test_unusual_encodings_become_bgr_uint8(variant: str) -> None:
    base = face_image(40, 1, size=80)
    if variant == "gray":
        data = _encode(cv2.cvtColor(base, cv2.COLOR_BGR2GRAY))
    elif variant == "alpha":
        data = _encode(np.dstack([base, np.full(base.shape[:2], 128, np.uint8)]), ".png")
    else:
        data = _encode(base.astype(np.uint16) * 257, ".png")
    img = decode_image(data, variant)
    assert img.dtype == np.uint8 and img.shape == (80, 80, 3)


def test_prepare_face_resizes_crops_and_orders_colour() -> None:
    img = np.zeros((100, 160, 3), np.uint8)
    img[..., 0] = 255  # pure blue in BGR
    spec = PreprocessSpec(size=32)
    out = prepare_face(img, spec)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert (out[..., 2] == 255).all() and (out[..., 0] == 0).all()  # blue lands in RGB's last channel
    assert prepare_face(img, PreprocessSpec(size=32, color_order="BGR"))[..., 0].min() == 255


def test_prepare_face_matches_opencv_bilinear_exact() -> None:
    img = face_image(50, 3, size=200)
    out = prepare_face(img, PreprocessSpec())
    ref = cv2.cvtColor(cv2.resize(img, (128, 128), interpolation=cv2.INTER_LINEAR_EXACT), cv2.COLOR_BGR2RGB)
    np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize("flag", ["denoise", "deblur"])
def test_optional_filters_change_pixels(flag: str) -> None:
    img = face_image(50, 3, size=128)
    plain = prepare_face(img, PreprocessSpec())
    filtered = prepare_face(img, PreprocessSpec(**{flag: True}))
    assert filtered.shape == plain.shape and not np.array_equal(filtered, plain)


def test_normalize_formula_and_layout() -> None:
    spec = PreprocessSpec(size=4, mean=(10.0, 20.0, 30.0), std=(2.0, 4.0, 5.0))
    faces = np.full((2, 4, 4, 3), 40, np.uint8)
    nchw = normalize(faces, spec)
    assert nchw.shape == (2, 3, 4, 4) and nchw.dtype == np.float32
    np.testing.assert_allclose(nchw[0, :, 0, 0], [15.0, 5.0, 2.0])
    assert normalize(faces, spec, "NHWC").shape == (2, 4, 4, 3)


@pytest.mark.parametrize("tail", [b"\x00" * 10_000, b"ftypmp42" + bytes(range(256)) * 64], ids=["zero_pad", "motion"])
def test_bytes_after_the_end_of_image_are_not_truncation(tail: bytes) -> None:
    """A complete JPEG followed by more than 4 KB of other bytes (a motion photo's video, padding) decodes, as
    OpenCV and Pillow decode it; a cut one is still refused: decoding decides, not the last bytes."""
    data = _encode(face_image(30, 0, size=128))
    assert decode_image(data + tail, "motion.jpg").shape == (128, 128, 3)
    with pytest.raises(EdgeAgeError, match=r"cut\.jpg: truncated JPEG"):
        decode_image(data[: len(data) // 2], "cut.jpg")
