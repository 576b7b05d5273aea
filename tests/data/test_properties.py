"""Property-based tests (hypothesis) for label parsing, and a bounded fuzz run of the image loader."""

from __future__ import annotations

import math

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import face_image
from edge_age.data.preprocess import decode_image
from edge_age.data.sources import MAX_AGE, parse_age, parse_utkface_name
from edge_age.errors import EdgeAgeError


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12))
def test_parse_age_accepts_exactly_the_valid_ages(text: str) -> None:
    """A label is its number with surrounding white space (str.strip's, which includes \\x1c-\\x1f) removed."""
    try:
        age = parse_age(text)
    except ValueError as e:
        assert str(e)  # every refusal says why
        try:
            v = float(text.strip())
        except ValueError:
            return
        assert not (0 <= v <= MAX_AGE) or math.isnan(v)
    else:
        assert 0 <= age <= MAX_AGE and age == float(text.strip())


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 120), st.integers(0, 1), st.integers(0, 4), st.integers(0, 10**17))
def test_utkface_names_round_trip(age: int, gender: int, race: int, date: int) -> None:
    assert parse_utkface_name(f"UTKFace/{age}_{gender}_{race}_{date}.jpg.chip.jpg") == age
    assert parse_utkface_name(f"{age}_{gender}_{date}.jpg.chip.jpg") == age  # the three files without race


_JPEG = cv2.imencode(".jpg", face_image(35, 0, size=64))[1].tobytes()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(_JPEG) - 1), st.integers(0, 255)), min_size=1, max_size=20),
       st.integers(0, len(_JPEG)))
def test_fuzzed_jpegs_decode_or_fail_cleanly(flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(_JPEG)
    for pos, val in flips:
        data[pos] = val
    data = bytes(data[: max(cut, 1)])
    try:
        img = decode_image(data, "fuzz.jpg")
    except EdgeAgeError as e:
        assert "fuzz.jpg" in str(e)
    else:
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
