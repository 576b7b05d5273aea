"""``--flip-average`` of eval and predict: each estimate is the mean of the face's and its mirror image's."""

from __future__ import annotations

import copy
import csv
import json
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from conftest import face_image
from edge_age.cli import main
from edge_age.formats import bundled_reference
from edge_age.runtime import load_predictor
from edge_age.runtime.flip import FlipAveraged, averages_mirror, flip_averaged


class Lopsided:
    """A stand-in predictor that reads only the left third of each face: its mirror image scores differently."""

    name, runtime, spec = "lopsided", "numpy", None

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict(self, faces: np.ndarray) -> np.ndarray:
        self.calls.append(len(faces))
        w = faces.shape[2]
        return faces[:, :, : w // 3].astype(np.float32).mean(axis=(1, 2, 3))


def _png(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cv2.imencode(".png", img)[1].tobytes())  # lossless: JPEG need not keep a mirror a mirror


FACES = arrays(np.uint8, st.tuples(st.integers(1, 5), st.integers(2, 9), st.integers(3, 9), st.just(3)))


@settings(max_examples=50, deadline=None)
@given(FACES)
def test_the_estimate_is_the_mean_of_the_face_and_its_mirror(faces: np.ndarray) -> None:
    inner = Lopsided()
    got = FlipAveraged(inner).predict(faces)
    want = (Lopsided().predict(faces) + Lopsided().predict(faces[:, :, ::-1])) / 2
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-4)
    assert inner.calls == [2 * len(faces)]  # one call with both halves, not two


@settings(max_examples=50, deadline=None)
@given(FACES)
def test_a_face_and_its_mirror_image_get_one_age(faces: np.ndarray) -> None:
    p = FlipAveraged(Lopsided())
    np.testing.assert_array_equal(p.predict(faces), p.predict(np.ascontiguousarray(faces[:, :, ::-1])))


def test_a_file_that_averages_inside_is_not_run_four_times() -> None:
    p = load_predictor(bundled_reference())
    assert isinstance(flip_averaged(p), FlipAveraged) and not averages_mirror(p)
    p.card = replace(p.card, flip_average=True)
    assert flip_averaged(p) is p and averages_mirror(p)  # and eval / predict record that its ages are averages


def test_the_reference_file_flip_averaged() -> None:
    plain = load_predictor(bundled_reference(), threads=1)
    flipped = load_predictor(bundled_reference(), threads=1, flip_average=True)
    faces = np.stack([cv2.cvtColor(face_image(a, a, size=64), cv2.COLOR_BGR2RGB) for a in (5, 30, 70)])
    mirrored = np.ascontiguousarray(faces[:, :, ::-1])
    np.testing.assert_allclose(flipped.predict(faces), (plain.predict(faces) + plain.predict(mirrored)) / 2,
                               atol=1e-5)
    assert flipped.spec == plain.spec and flipped.card is not None and flipped.runtime == plain.runtime


def test_predict_gives_a_photo_and_its_mirror_one_age(tmp_path: Path, capsys) -> None:
    # at the model's input size crop and resize are the identity, so the two files feed mirrored tensors
    face = face_image(40, 3, size=64)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    _png(a, face)
    _png(b, np.ascontiguousarray(face[:, ::-1]))
    ages = {}
    for flip in (False, True):
        out = tmp_path / f"{flip}.json"
        assert main(["predict", "--crops", str(a), str(b), "--json", str(out)] + ["--flip-average"] * flip) == 0
        result = json.loads(out.read_text())
        assert result["flip_average"] is flip
        ages[flip] = [r["age"] for r in result["results"]]
    assert ages[True][0] == ages[True][1]
    assert abs(ages[True][0] - sum(ages[False]) / 2) <= 0.011  # the JSON rounds ages to 2 places
    assert ages[False][0] != ages[False][1]  # the file itself is not mirror-symmetric: the test can fail


def test_eval_scores_a_set_and_its_mirror_image_alike(tmp_path: Path) -> None:
    # folder-per-age faces at the model's input size (crop and resize are the identity), and their mirror images
    for k, age in enumerate((3, 12, 25, 40, 61, 80)):
        face = face_image(age, k, size=64)
        _png(tmp_path / "faces" / str(age) / f"f{k}.png", face)
        _png(tmp_path / "mirrored" / str(age) / f"f{k}.png", np.ascontiguousarray(face[:, ::-1]))
    estimates = {}
    for data, flip in (("faces", False), ("faces", True), ("mirrored", True)):
        out = tmp_path / f"eval_{data}_{flip}"
        argv = ["eval", str(bundled_reference()), "--data", str(tmp_path / data), "--split", "all",
                "--no-progress", "--out", str(out), "--threads", "1"] + ["--flip-average"] * flip
        assert main(argv) == 0
        assert json.loads((out / "metrics.json").read_text())["flip_average"] is flip
        with open(out / "predictions.csv") as f:
            estimates[data, flip] = {r["name"]: float(r["estimate"]) for r in csv.DictReader(f)}
    assert len(estimates["faces", True]) == 6
    assert estimates["faces", True] == estimates["mirrored", True]
    assert estimates["faces", True] != estimates["faces", False]


def test_shapes_it_cannot_pair_are_refused() -> None:
    p = FlipAveraged(Lopsided())
    with pytest.raises(ValueError, match="N x H x W x 3"):
        p.predict(np.zeros((8, 8, 3), np.uint8))  # one face without its batch axis: H would be taken for N

    class TwoNumbers(Lopsided):
        def predict(self, faces: np.ndarray) -> np.ndarray:
            return np.zeros((len(faces), 2), np.float32)

    with pytest.raises(ValueError, match="gave 8 numbers for 4 faces"):
        FlipAveraged(TwoNumbers()).predict(np.zeros((2, 8, 8, 3), np.uint8))


def test_the_wrapper_copies_without_recursing() -> None:
    p = copy.copy(FlipAveraged(Lopsided()))
    assert p.name == "lopsided +mirror" and p.runtime == "numpy"
    assert not hasattr(FlipAveraged.__new__(FlipAveraged), "spec")  # a bare instance: AttributeError, not recursion
