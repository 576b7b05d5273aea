"""BlazeFace full-range as a third row of the detector table: it finds the faces MTCNN finds, with the eyes
where MTCNN puts them, none on a face-free photo, and a framing fitted for it makes predict detect with it."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import cv2
import numpy as np

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
    monkeypatch.setattr(faces, "_blazeface_in", lambda view, cfg: used.append(1) or real(view, cfg))
    photo = write_jpg(tmp_path / "two.jpg", _scene())
    out = tmp_path / "ages.json"
    assert main(["predict", str(photo), "--model", str(folder / bundled_reference().name), "--json", str(out)]) == 0
    results = json.loads(out.read_text())["results"]
    assert used and len(results) == 2
    for r in results:  # numbers, not numpy scalars turned into strings
        assert all(isinstance(v, float) for v in r["box"] + [c for eye in r["eyes"] for c in eye]), r
