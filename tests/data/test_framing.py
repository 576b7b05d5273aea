"""Face framing: crop geometry, the fixed-point warp, fitting from scenes, and the cards that carry it."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_age.data.framing import (Detection, Framing, Square, _split, box_square, crop_detection, eye_square, frame,
                                   warp_square)
from edge_age.data.framing_fit import Match, fit_framing, residuals
from edge_age.data.preprocess import PreprocessSpec, crop_face
from edge_age.errors import EdgeAgeError


def _img(h: int = 120, w: int = 160, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_upright_square_on_pixel_grid_is_a_plain_crop() -> None:
    img = _img()
    got = warp_square(img, Square(60.0, 50.0, 40.0), 40)
    assert np.array_equal(got, img[30:70, 40:80])


def test_quarter_turn_is_rot90() -> None:
    img = _img()
    # x axis pointing down the image: the crop is the upright one turned a quarter.
    got = warp_square(img, Square(60.0, 50.0, 40.0, 0.0, 1.0), 40)
    assert np.array_equal(got, np.rot90(img[30:70, 40:80], k=1))


def test_outside_pixels_repeat_the_edge() -> None:
    img = _img()
    got = warp_square(img, Square(0.0, 0.0, 20.0), 20)
    assert np.array_equal(got[:10, :10], np.broadcast_to(img[0, 0], (10, 10, 3)))


def test_box_rule_offsets_turn_with_the_box() -> None:
    f = Framing(box_dx=0.0, box_dy=0.1, box_scale=1.5, eye_scale=0.0)
    up = box_square(Detection(100, 100, 50, 50), f)
    assert (up.cx, up.cy, up.side) == pytest.approx((125, 130, 75))
    turned = box_square(Detection(100, 100, 50, 50, angle=90.0), f)
    assert (turned.cx, turned.cy) == pytest.approx((120, 125))  # "down" of a quarter-turned face is -x
    assert turned.angle == pytest.approx(90.0)


def test_eye_rule_levels_the_eyes_and_wins_over_the_box() -> None:
    f = Framing(0.0, 0.0, 1.0, 0.0, 0.5, 2.5, 0.0)
    det = Detection(0, 0, 10, 10, eyes=((100.0, 100.0), (110.0, 110.0)))
    sq = frame(det, f)
    d = math.hypot(10, 10)
    assert sq.side == pytest.approx(2.5 * d) and sq.angle == pytest.approx(45.0)
    assert (sq.cx, sq.cy) == pytest.approx((105 - 0.5 * d * math.sin(math.radians(45)),
                                            105 + 0.5 * d * math.cos(math.radians(45))))
    no_eyes = Framing(0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0)
    assert frame(det, no_eyes) == box_square(det, no_eyes)  # no eye rule fitted: the box frames it
    with pytest.raises(EdgeAgeError):
        eye_square((1.0, 1.0), (1.0, 1.0), f)


@settings(max_examples=40, deadline=None)
@given(dx=st.floats(-0.2, 0.2), dy=st.floats(-0.2, 0.2), scale=st.floats(0.6, 3.0),
       edx=st.floats(-0.3, 0.3), edy=st.floats(0.0, 1.0), escale=st.floats(1.0, 4.0), eangle=st.floats(-5, 5))
def test_fit_recovers_the_framing_that_made_the_scenes(dx, dy, scale, edx, edy, escale, eangle) -> None:
    """Detections made from random chip squares by inverting a known framing: the fit gives it back."""
    known = Framing(dx, dy, scale, edx, edy, escale, eangle)
    rng = np.random.default_rng(0)
    matches = []
    for i in range(60):  # 30 eye pairs: the fit wants at least 20 before it trusts the eye rule
        side, a = rng.uniform(40, 200), rng.uniform(-25, 25)
        c = rng.uniform(100, 400, 2)
        truth = Square(c[0], c[1], side, math.cos(math.radians(a)), math.sin(math.radians(a)))
        rot = np.array([[truth.cos, -truth.sin], [truth.sin, truth.cos]])
        b = side / scale
        bc = c - rot @ np.array([dx, dy]) * b
        eyes = None
        if i % 2:
            d = side / escale
            mid = c - rot @ np.array([edx, edy]) * d
            la = math.radians(a - eangle)
            half = np.array([math.cos(la), math.sin(la)]) * d / 2
            eyes = (tuple(mid - half), tuple(mid + half))
        matches.append(Match(truth, Detection(bc[0] - b / 2, bc[1] - b / 2, b, b, angle=a, eyes=eyes)))
    fit = fit_framing(matches, use_eyes=True)
    for k in ("box_dx", "box_dy", "box_scale", "eye_dx", "eye_dy", "eye_scale", "eye_angle"):
        assert getattr(fit, k) == pytest.approx(getattr(known, k), abs=2e-4), k
    res = residuals(matches, fit)
    assert np.allclose(res["scale"], 1, atol=1e-3) and np.allclose(res["angle"], 0, atol=0.05)


def test_framing_travels_in_the_spec_and_older_cards_still_read() -> None:
    f = Framing(0.01, 0.08, 1.0, 0.05, 0.52, 2.54, -0.3, "test")
    spec = PreprocessSpec(size=64, framing=f)
    assert PreprocessSpec.from_dict(spec.to_dict()) == spec
    old = {k: v for k, v in spec.to_dict().items() if k != "framing"} | {"face_margin": 0.4, "extra": {}}
    assert PreprocessSpec.from_dict(old).framing.box_scale == pytest.approx(1.8)


@pytest.mark.parametrize("bad", [{"box_scale": "big"}, {"box_scale": float("nan")}, {"box_scale": 0.0},
                                 {"eye_scale": 100.0}, {"margin": 1}, [1, 2]])
def test_bad_framing_is_one_clear_error(bad) -> None:
    with pytest.raises(EdgeAgeError, match="framing"):
        Framing.from_dict(bad)


@pytest.mark.parametrize("face", [30, 150, 600])
def test_bilinear_cards_get_their_crop_at_the_model_side(face: int) -> None:
    """The crop costs what the model's input costs, whatever the face's size, and equals the square sampled at
    that side directly."""
    img = _img(480, 640)
    spec = PreprocessSpec(size=64, framing=Framing(box_scale=1.0))
    assert spec.interpolation == "bilinear_exact"  # every shipped card's
    crop, sq = crop_face(img, Detection(20, 10, face, face), spec)
    assert crop.shape == (64, 64, 3)
    crop, _ = crop_face(img, Detection(20, 10, face, face), replace(spec, denoise=True))
    assert crop.shape[0] == min(max(round(sq.side), 64), 256)  # denoising sees the face's own pixels


def test_other_crops_sample_near_source_resolution_within_bounds() -> None:
    img = _img(480, 640)
    crop, sq = crop_detection(img, Detection(100, 100, 30, 30), Framing(box_scale=1.0), 64, False)
    assert crop.shape == (64, 64, 3)  # at least the model's size
    crop, sq = crop_detection(img, Detection(100, 100, 150, 150), Framing(box_scale=1.0), 64, False)
    assert crop.shape == (150, 150, 3)
    crop, sq = crop_detection(img, Detection(0, 0, 600, 600), Framing(box_scale=1.0), 64, False)
    assert crop.shape == (256, 256, 3)  # capped at 4x the model's size


@pytest.mark.realdata
def test_scene_truth_locates_the_chip(real_data: Path) -> None:
    """Warping a scene with its recorded square gives the chip back (up to lighting and JPEG-free resampling)."""
    from edge_age.data.sources import load_labeled
    from edge_age.data.wild import WildConfig, iter_scenes

    ls = load_labeled(real_data)
    sample = ls.samples[:3]
    chips = {s.name: d for s, (_, d) in zip(sample, ls.container.read_many(s.name for s in sample))}
    from edge_age.data.preprocess import decode_image

    for s, scene in iter_scenes(ls, sample, WildConfig(seed=4)):
        chip = decode_image(chips[s.name]).astype(np.float32)
        back = warp_square(scene.image, scene.truth, chip.shape[0]).astype(np.float32)
        inner = slice(20, -20)
        r = np.corrcoef(chip[inner, inner].ravel(), back[inner, inner].ravel())[0, 1]
        assert r > 0.9, (s.name, r)


@pytest.mark.realdata
def test_detector_finds_tight_chips_and_turned_faces(real_data: Path) -> None:
    """A bare aligned chip (no context) and a chip turned 25 degrees in a scene are both found, framed
    to within 15% of the chip's square by the default framing."""
    import cv2

    from edge_age.data.faces import detect_faces
    from edge_age.data.framing_fit import match
    from edge_age.data.sources import load_labeled
    from edge_age.data.wild import WildConfig, place
    from edge_age.data.preprocess import decode_image

    ls = load_labeled(real_data)
    found_chip = found_turned = 0
    for s, (_, data) in zip(ls.samples[:10], ls.container.read_many(s.name for s in ls.samples[:10])):
        chip = decode_image(data)
        found_chip += bool(detect_faces(chip))
        scene = place(chip, chip[::-1], np.random.default_rng(1), WildConfig(face_frac=(0.4, 0.4), max_angle=0))
        m = cv2.getRotationMatrix2D((scene.truth.cx, scene.truth.cy), -25, 1.0)
        turned = cv2.warpAffine(scene.image, m, (640, 480), borderMode=cv2.BORDER_REFLECT)
        truth = Square(scene.truth.cx, scene.truth.cy, scene.truth.side, math.cos(math.radians(25)),
                       math.sin(math.radians(25)))
        det = match(truth, detect_faces(turned))
        if det is not None:
            sq = frame(det, PreprocessSpec().framing)
            found_turned += abs(sq.side / truth.side - 1) < 0.15 and math.hypot(sq.cx - truth.cx, sq.cy - truth.cy) < 0.15 * truth.side
    assert found_chip >= 8 and found_turned >= 7, (found_chip, found_turned)


@pytest.mark.realdata
def test_predict_reports_box_eyes_and_crop_and_draws_the_crop(real_data: Path, tmp_path: Path) -> None:
    """predict on a photo (detection is the default): per face the box, the eye points, the crop fed to the model and
    the age; --annotate writes the photo with that crop drawn (and leaves the input alone)."""
    import json
    import subprocess
    import sys

    import cv2

    from edge_age.data.sources import load_labeled
    from edge_age.data.wild import WildConfig, iter_scenes

    ls = load_labeled(real_data)
    for k, (s, scene) in enumerate(iter_scenes(ls, ls.samples[:4], WildConfig(face_frac=(0.4, 0.4), seed=2))):
        cv2.imwrite(str(tmp_path / f"photo{k}.jpg"), scene.image)
    photos = sorted(tmp_path.glob("photo*.jpg"))
    before = [p.read_bytes() for p in photos]
    model = Path(__file__).resolve().parents[2] / "export" / "mobilenetv2_age" / "mobilenetv2_age_int8.tflite"
    r = subprocess.run([sys.executable, "-m", "edge_age", "predict", *map(str, photos), "--model",
                        str(model), "--json", str(tmp_path / "out.json"), "--annotate", str(tmp_path / "ann")],
                       capture_output=True, text=True, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    faces = [x for x in json.loads((tmp_path / "out.json").read_text())["results"] if "age" in x]
    assert len(faces) >= 3
    for f in faces:
        assert len(f["box"]) == 4 and set(f["crop"]) == {"center", "side", "angle"} and "eyes" in f
        assert f["eyes"] is None or (len(f["eyes"]) == 2 and len(f["eyes"][0]) == 2)
        assert 0 < f["age"] < 120
    assert any(f["eyes"] for f in faces)
    annotated = sorted((tmp_path / "ann").glob("*.jpg"))
    assert len(annotated) == len({f["file"] for f in faces})
    assert cv2.imread(str(annotated[0])).shape == (480, 640, 3)
    assert [p.read_bytes() for p in photos] == before


def test_data_wild_is_reproducible_and_readable_as_a_dataset(utk_dir: Path, tmp_path: Path) -> None:
    from edge_age.cli import main
    from edge_age.data.sources import load_labeled
    from edge_age.data.wild import LABELS, read_truth

    for out in ("a", "b"):
        assert main(["data", "wild", "--data", str(utk_dir), "--split", "all", "--out", str(tmp_path / out),
                     "--no-progress"]) == 0
    a, b = sorted((tmp_path / "a").iterdir()), sorted((tmp_path / "b").iterdir())
    assert [p.name for p in a] == [p.name for p in b] and len(a) == 61  # 60 scenes + labels.csv
    assert all(x.read_bytes() == y.read_bytes() for x, y in zip(a, b))
    ls = load_labeled(tmp_path / "a" / LABELS)
    assert len(ls.samples) == 60 and not ls.problems
    truth = read_truth(tmp_path / "a" / LABELS)
    sides = np.array([t.side for t in truth.values()])
    assert sides.min() >= 0.15 * 640 - 1e-6 and sides.max() <= 0.60 * 640 + 1e-6
    assert max(abs(t.angle) for t in truth.values()) <= 25


def test_framing_fit_without_faces_is_one_line(tmp_path: Path, capsys) -> None:
    from conftest import write_jpg

    from edge_age.cli import main

    for k in range(12):  # flat grey "chips": nothing a detector can find
        write_jpg(tmp_path / "flat" / f"{20 + k}_0_0_2017010100000{k:02d}.jpg.chip.jpg", np.full((64, 64, 3), 90 + k, np.uint8))
    assert main(["data", "framing", "--data", str(tmp_path / "flat"), "--split", "all", "--out", str(tmp_path / "f"),
                 "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no face was detected" in err[0]
    assert not (tmp_path / "f" / "framing.json").exists()


@pytest.mark.realdata
@pytest.mark.slow
def test_framing_fit_on_real_chips_matches_the_defaults(real_data: Path, tmp_path: Path) -> None:
    """A fit on 140 other train faces lands near the committed defaults (fitted on 1753)."""
    import json

    from edge_age.cli import main

    assert main(["data", "framing", "--data", str(real_data), "--limit", "200", "--out", str(tmp_path / "f.json"),
                 "--no-progress"]) == 0
    fit = json.loads((tmp_path / "f.json").read_text())
    f, d = Framing.from_dict(fit["framing"]), Framing()
    assert fit["summary"]["found_rate"] > 0.85
    assert abs(f.box_scale - d.box_scale) < 0.08 and abs(f.box_dy - d.box_dy) < 0.05
    assert abs(f.eye_scale - d.eye_scale) < 0.25 and abs(f.eye_dy - d.eye_dy) < 0.08


def test_a_framing_names_its_detector_and_old_ones_stay_haar() -> None:
    """The framing's rule is only right for the detector it was fitted on: cards written before MTCNN
    (no detector field, or a face_margin) keep detecting with Haar; new fits and defaults use MTCNN."""
    from edge_age.data.faces import DetectConfig
    from edge_age.errors import EdgeAgeError

    assert Framing().detector == "mtcnn" and DetectConfig.for_framing(Framing()).detector == "mtcnn"
    old = {k: v for k, v in Framing().to_dict().items() if k != "detector"}
    assert Framing.from_dict(old).detector == "haar"
    assert Framing.from_margin(0.4).detector == "haar"
    assert Framing.from_dict(Framing().to_dict()) == Framing()
    with pytest.raises(EdgeAgeError, match="framing detector 'yolo'"):
        Framing.from_dict({**Framing().to_dict(), "detector": "yolo"})


def test_mtcnn_nms_keeps_the_best_of_overlapping_boxes() -> None:
    from edge_age.data.mtcnn import nms

    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [2, 2, 8, 8]], float)
    scores = np.array([0.9, 0.95, 0.5, 0.99])
    assert list(nms(boxes, scores, 0.5)) == [3, 1, 2]  # IoU: the small inner box overlaps neither by half
    assert list(nms(boxes, scores, 0.5, by_min=True)) == [3, 2]  # by the smaller box: it covers the others


@pytest.mark.realdata
def test_mtcnn_finds_a_real_face_with_its_eyes_where_the_chip_has_them(real_data: Path) -> None:
    """On aligned UTKFace chips in a plain canvas, MTCNN's box holds the face and its eye points lie
    level, left before right, about a third of the chip apart (the chips' own alignment)."""
    from edge_age.data.faces import detect_faces
    from edge_age.data.preprocess import decode_image
    from edge_age.data.sources import load_labeled

    ls = load_labeled(real_data)
    good = 0
    for _, data in ls.container.read_many(s.name for s in ls.samples[:8]):
        chip = decode_image(data)
        canvas = np.full((400, 400, 3), 128, np.uint8)
        canvas[100:300, 100:300] = chip
        dets = detect_faces(canvas)
        if not dets or dets[0].eyes is None:
            continue
        (lx, ly), (rx, ry) = dets[0].eyes
        d = math.hypot(rx - lx, ry - ly)
        good += lx < rx and abs(ry - ly) < 0.2 * d and 40 < d < 110 and 100 < dets[0].center[0] < 300
    assert good >= 7, good


def _warp_whole_photo(img: np.ndarray, square, out: int) -> np.ndarray:
    """The warp as it was written before it read only each output pixel's neighbours: the whole photo widened to
    int64, every tap clipped on its own. The plainest statement of the sampling rule, kept as the reference."""
    h, w = img.shape[:2]
    t = ((np.arange(out, dtype=np.float64) + 0.5) / out - 0.5) * square.side
    a, b = t[None, :], t[:, None]
    x0, wx = _split(square.cx + a * square.cos - b * square.sin - 0.5)
    y0, wy = _split(square.cy + a * square.sin + b * square.cos - 0.5)
    xa, xb = np.clip(x0, 0, w - 1), np.clip(x0 + 1, 0, w - 1)
    ya, yb = np.clip(y0, 0, h - 1), np.clip(y0 + 1, 0, h - 1)
    src = img.astype(np.int64)
    wx, wy = wx[..., None], wy[..., None]
    top = src[ya, xa] * (256 - wx) + src[ya, xb] * wx
    bottom = src[yb, xa] * (256 - wx) + src[yb, xb] * wx
    return ((top * (256 - wy) + bottom * wy + 32768) >> 16).astype(np.uint8)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 48), st.integers(1, 48), st.floats(-20, 70), st.floats(-20, 70), st.floats(0.5, 90),
       st.floats(-3.2, 3.2), st.integers(1, 40), st.integers(0, 2**32 - 1), st.booleans())
def test_the_warp_reads_only_what_it_outputs_with_the_same_bytes(h, w, cx, cy, side, angle, out, seed, saturated):
    """Same bytes as the whole-photo warp for any square: inside, across an edge, wholly outside, any angle;
    a saturated photo checks that the narrower integers do not overflow."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 255, np.uint8) if saturated else rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    square = Square(cx, cy, side, math.cos(angle), math.sin(angle))
    assert np.array_equal(warp_square(img, square, out), _warp_whole_photo(img, square, out))
