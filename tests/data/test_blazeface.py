"""BlazeFace full-range as a third row of the detector table: it finds the faces MTCNN finds, with the eyes
where MTCNN puts them, none on a face-free photo, and a framing fitted for it makes predict detect with it."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import drawn_face, write_jpg
from edge_age.data.faces import DetectConfig, detect_faces
from edge_age.data.framing import DETECTORS, Framing
from edge_age.formats import bundled_reference


def _scene() -> np.ndarray:
    rng = np.random.default_rng(0)
    scene = cv2.GaussianBlur(rng.integers(60, 200, (480, 640, 3), dtype=np.uint8), (0, 0), 8)
    scene[150:300, 100:250] = drawn_face(150, seed=1)
    scene[200:330, 450:580] = drawn_face(130, seed=2)
    return scene


def test_blazeface_finds_the_faces_and_eyes_mtcnn_finds() -> None:
    assert "blazeface" in DETECTORS
    scene = _scene()
    blaze = sorted(detect_faces(scene, DetectConfig(detector="blazeface")), key=lambda d: d.x)
    ref = sorted(detect_faces(scene, DetectConfig(detector="mtcnn")), key=lambda d: d.x)
    assert len(blaze) == len(ref) == 2
    for b, m in zip(blaze, ref):
        for eb, em in zip(b.eyes, m.eyes):  # the image's left eye first, as MTCNN's
            assert math.dist(eb, em) < 0.15 * m.w, (b.eyes, m.eyes)
        assert abs((b.x + b.w / 2) - (m.x + m.w / 2)) < 0.15 * m.w
    empty = cv2.GaussianBlur(np.random.default_rng(1).integers(40, 220, (480, 640, 3), dtype=np.uint8), (0, 0), 6)
    assert detect_faces(empty, DetectConfig(detector="blazeface")) == []


def test_a_card_framed_for_blazeface_makes_predict_detect_with_it(tmp_path: Path, monkeypatch) -> None:
    from edge_age.cli import main
    from edge_age.data import faces

    folder = tmp_path / "ref"
    shutil.copytree(bundled_reference().parent, folder)
    card_file = folder / "mobilenetv2_age.json"
    card = json.loads(card_file.read_text())
    card["preprocess"]["framing"] = {**card["preprocess"]["framing"], "detector": "blazeface"}
    Framing.from_dict(card["preprocess"]["framing"])  # a valid framing
    card_file.write_text(json.dumps(card))
    used = []
    real = faces._blazeface_in
    monkeypatch.setattr(faces, "_blazeface_in", lambda view, cfg, net: used.append(1) or real(view, cfg, net))
    photo = write_jpg(tmp_path / "two.jpg", _scene())
    out = tmp_path / "ages.json"
    assert main(["predict", str(photo), "--model", str(folder / bundled_reference().name), "--json", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    assert used and len(results) == 2
    for r in results:  # numbers, not numpy scalars turned into strings
        assert all(isinstance(v, float) for v in r["box"] + [c for eye in r["eyes"] for c in eye]), r


def test_the_halves_map_back_and_report_a_face_in_their_overlap_once(monkeypatch) -> None:
    """Each window of the halves pass maps its boxes back to the photo, and a face inside both windows' overlap
    (seen twice) is reported once. (What the halves add in recall is measured in lab/blazeface_cascade.json.)"""
    from edge_age.data import faces
    from edge_age.data.faces import Pass

    rng = np.random.default_rng(3)
    photo = cv2.GaussianBlur(rng.integers(60, 200, (900, 1600, 3), dtype=np.uint8), (0, 0), 8)
    photo[330:580, 675:925] = drawn_face(250, seed=4)  # x 675-925: inside both windows ([0, 960) and [640, 1600))
    seen = []
    real = faces._found
    monkeypatch.setattr(faces, "_found", lambda view, ps, cfg: seen.append(real(view, ps, cfg)) or seen[-1])
    halves = detect_faces(photo, DetectConfig(detector="blazeface", passes=(Pass(halves=True),)))
    assert [len(s) for s in seen] == [1, 1] and len(halves) == 1  # found in each window, kept once
    (upright,) = detect_faces(photo, DetectConfig(detector="blazeface", passes=(Pass(),)))
    for d in seen[0] + seen[1]:
        assert math.dist(d.center, upright.center) < 0.1 * upright.w
        assert math.dist(d.eyes[0], upright.eyes[0]) < 0.1 * upright.w


def test_the_cascade_stops_at_the_first_pass_that_finds_a_face(monkeypatch) -> None:
    from edge_age.data import faces

    calls = []
    real = faces._blazeface_in
    monkeypatch.setattr(faces, "_blazeface_in", lambda view, cfg, net: calls.append(net) or real(view, cfg, net))
    assert len(detect_faces(_scene(), DetectConfig(detector="blazeface"))) == 2
    assert calls == ["full"]  # the upright pass found both faces
    calls.clear()
    empty = np.full((480, 640, 3), 128, np.uint8)
    assert detect_faces(empty, DetectConfig(detector="blazeface")) == []
    # every pass ran on a photo without a face, the halves as two windows, each on its network: the bounded worst
    # case, the full-range network only where faces may be small (the whole photo and its halves)
    assert calls == [p.network for p in faces.BLAZEFACE_PASSES for _ in range(2 if p.halves else 1)]
    assert [p.network for p in faces.BLAZEFACE_PASSES] == ["full", "full", "short", "short", "short"]


def test_the_short_range_network_finds_a_tight_chip_with_its_eyes() -> None:
    """The fallback passes' network decodes its own anchors and side: a face that fills the view is found with
    both eyes where they are drawn, as the full-range network finds it."""
    from edge_age.data.faces import Pass

    chip = drawn_face(200, seed=4)
    found = {net: detect_faces(chip, DetectConfig(detector="blazeface", passes=(Pass(pad=True, network=net),)))
             for net in ("full", "short")}
    assert len(found["short"]) == len(found["full"]) == 1
    short, full = found["short"][0], found["full"][0]
    assert math.dist(short.center, full.center) < 0.1 * full.w
    for a, b in zip(short.eyes, full.eyes):
        assert math.dist(a, b) < 0.1 * full.w


def test_letterbox_rounds_as_the_app_does() -> None:
    """Python's round() (half to even) is what the Kotlin core's Math.rint reproduces: a width whose scaled
    size ends in .5 must round to even on both sides."""
    from edge_age.data.blazeface import SIDE, Letterbox

    box = Letterbox.of(640, 480)
    assert (box.scale, box.px, box.py) == (SIDE / 640, 0, 24)
    assert Letterbox.of(100, 5).py == (SIDE - round(5 * SIDE / 100)) // 2 == 91  # 9.6 -> 10
    assert Letterbox.of(384, 5).py == 95  # 5 x 0.5 = 2.5 -> 2 (half to even; half up would give 3 and 94)


def test_framing_option_detects_with_the_named_fit_instead_of_the_cards(tmp_path: Path, monkeypatch) -> None:
    """predict --framing NAME (and eval's) detects with that detector and frames with its fit; without it, the
    card's detector is used."""
    from edge_age.cli import main
    from edge_age.data import faces

    used = []
    for name in ("_mtcnn_in", "_blazeface_in"):
        real = getattr(faces, name)
        monkeypatch.setattr(faces, name, lambda view, cfg, *net, real=real, name=name: used.append(name) or real(view, cfg, *net))
    photo = write_jpg(tmp_path / "two.jpg", _scene())
    card_detector = json.loads(bundled_reference().with_suffix("").with_name("mobilenetv2_age.json").read_text())[
        "preprocess"]["framing"]["detector"]
    other = "mtcnn" if card_detector == "blazeface" else "blazeface"
    for framing, want in ((None, card_detector), (other, other)):
        used.clear()
        out = tmp_path / f"ages_{framing}.json"
        assert main(["predict", str(photo), "--json", str(out), *(["--framing", framing] if framing else [])]) == 0
        assert set(used) == {f"_{want}_in"}, (framing, used)
        assert len(json.loads(out.read_text())["results"]) == 2


@pytest.mark.parametrize("name", ["full", "short"])
def test_each_network_file_has_an_output_per_anchor(name: str) -> None:
    """The shipped file, its input side and the anchors the decode assumes agree (896 short-range, 2304 full)."""
    from edge_age.data import blazeface

    net = blazeface.NETWORKS[name]
    tensor, _ = blazeface.letterbox(np.zeros((60, 80, 3), np.uint8), net.side)
    raw, logits = blazeface.run(tensor, net)
    assert raw.shape == (len(net.anchors()), 16) and logits.shape == (len(net.anchors()),)
    assert len(net.anchors()) == {"full": 48 * 48, "short": 896}[name]


def test_short_range_anchors_run_row_by_row_each_cells_together() -> None:
    """MediaPipe's SSD order: the 16 x 16 layer's two anchors a cell, x fastest, then the 8 x 8 layer's six."""
    from edge_age.data.blazeface import SHORT

    a = SHORT.anchors()
    assert np.allclose(a[:3], [(1 / 32, 1 / 32), (1 / 32, 1 / 32), (3 / 32, 1 / 32)])
    assert np.allclose(a[32], (1 / 32, 3 / 32))  # the second row of the first layer
    assert np.allclose(a[512:518], (1 / 16, 1 / 16)) and np.allclose(a[518], (3 / 16, 1 / 16))
