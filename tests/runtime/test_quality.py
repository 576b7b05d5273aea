"""Per-face quality signals in predict's JSON (issue 36 item 4): what they say about the input."""

from __future__ import annotations

import cv2
import numpy as np

from conftest import face_image
from edge_age.runtime.quality import face_quality


def test_quality_flags_grey_faces_and_tells_sharp_from_blurred() -> None:
    face = cv2.resize(face_image(30, 1, size=128), (64, 64), interpolation=cv2.INTER_AREA)
    q = face_quality(face, 180.0)
    assert q["face_px"] == 180.0 and not q["greyscale"] and q["colourfulness"] > 2
    grey = np.repeat(cv2.cvtColor(face, cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    assert face_quality(grey, 180.0)["greyscale"] and face_quality(grey, 180.0)["colourfulness"] == 0
    blurred = cv2.GaussianBlur(face, (0, 0), 2.0)
    assert face_quality(blurred, 180.0)["sharpness"] < 0.5 * q["sharpness"]
    assert set(q) == {"face_px", "sharpness", "colourfulness", "greyscale"}


def test_predict_json_carries_each_face_quality(exported: dict, tmp_path) -> None:
    import json

    from conftest import write_jpg
    from edge_age.cli import main

    photo = write_jpg(tmp_path / "face.jpg", face_image(30, 1, size=128))
    model = next(p for p in exported["out"].iterdir() if p.name.endswith("_int8.tflite"))
    assert main(["predict", "--crops", str(photo), "--model", str(model), "--json", str(tmp_path / "o.json")]) == 0
    r = json.loads((tmp_path / "o.json").read_text())["results"][0]
    assert r["quality"]["face_px"] == 128.0 and r["quality"]["sharpness"] > 0 and r["quality"]["greyscale"] is False
