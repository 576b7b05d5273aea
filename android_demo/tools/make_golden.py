"""Write golden cases for the Kotlin core: source pixels, face box, card, and Python's int8 tensor.

The expected bytes come from ``edge_age.runtime.tflite.TFLitePredictor.input_tensor`` after
``prepare_face`` (and ``crop_face`` with the card's framing for detected faces): exactly what the
Python runtime feeds the model. Real faces are read from the UTKFace archive at test time, placed in
scenes at several scales and angles and detected by the project's detector (box, eyes, turned
passes); they are written only to the output folder, which is never committed.

    python android_demo/tools/make_golden.py --model export/simplecnn/simplecnn_int8.tflite \
        --data ../shared/data/UTKFace.tar.gz --out android_demo/build/golden
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import replace
from typing import Any
from pathlib import Path

import cv2
import numpy as np

from edge_age.data import blazeface
from edge_age.data.faces import BLAZEFACE_PASSES, DetectConfig, Pass, blazeface_in_photo, detect_faces, views
from edge_age.data.framing_fit import load_fit
from edge_age.data.framing import Detection
from edge_age.data.preprocess import PreprocessSpec, crop_face, decode_image, prepare_face
from edge_age.data.sources import load_labeled
from edge_age.data.split import stable_hash
from edge_age.formats import card_path
from edge_age.data.wild import WildConfig, place
from edge_age.runtime import intervals
from edge_age.runtime.card import file_entry
from edge_age.runtime.golden import golden_inputs
from edge_age.runtime.tflite import TFLitePredictor


def write_case(out: Path, k: int, what: str, img_bgr: np.ndarray, det: Detection | None,
               pred: TFLitePredictor, spec: PreprocessSpec | None = None) -> None:
    spec = spec or pred.spec
    crop = img_bgr if det is None else crop_face(img_bgr, det, spec)[0]
    tensor = pred.input_tensor(prepare_face(crop, spec))
    rgb = np.ascontiguousarray(cv2.cvtColor(img_bgr, cv2.COLOR_BGR2RGB))
    (out / f"case{k:02d}.rgb").write_bytes(rgb.tobytes())
    (out / f"case{k:02d}.int8").write_bytes(tensor.astype(np.int8).tobytes())
    face = None if det is None else {
        "box": None if det.w <= 0 else [det.x, det.y, det.w, det.h], "angle": det.angle,
        "eyes": None if det.eyes is None else [list(det.eyes[0]), list(det.eyes[1])]}
    (out / f"case{k:02d}.json").write_text(json.dumps({
        "what": what, "width": int(rgb.shape[1]), "height": int(rgb.shape[0]), "face": face,
        "rgb": f"case{k:02d}.rgb", "tensor": f"case{k:02d}.int8"}))


def write_detector_case(out: Path, k: int, what: str, img_bgr: np.ndarray, pred: TFLitePredictor,
                        passes: tuple[Pass, ...] | None = None) -> bool:
    """A case that starts from BlazeFace's raw outputs on the first view (of ``passes``, else BlazeFace's own) that
    finds a face: the outputs, the view (its pass, letterbox and map back to the photo), Python's detection and the
    tensor its crop gives, framed by the card's framing when the card is BlazeFace's, else by the bundled fit."""
    cfg = DetectConfig(detector="blazeface", passes=passes)
    for ps, view in ((ps, v) for ps, vs in views(img_bgr, cfg) for v in vs):
        net = blazeface.NETWORKS[ps.network]
        tensor, box = blazeface.letterbox(view.image, net.side)
        raw, logits = blazeface.run(tensor, net)
        if _write_decoded(out, k, what, img_bgr, pred, (raw, logits, box), (ps, view), cfg):
            return True
    return False


def _write_decoded(out: Path, k: int, what: str, img_bgr: np.ndarray, pred: TFLitePredictor,
                   outputs: tuple[np.ndarray, np.ndarray, blazeface.Letterbox], where: tuple[Pass, Any],
                   cfg: DetectConfig) -> bool:
    """Decode ``outputs`` (raw, logits, letterbox) in the view ``where`` (its pass and view); when a face is found,
    write the case: the outputs, the view, every detection and the first one's tensor. False when none is found."""
    (raw, logits, box), (ps, view) = outputs, where
    net = blazeface.NETWORKS[ps.network]
    found = sorted(blazeface_in_photo(view, blazeface.decode(raw, logits, box, net=net), cfg),
                   key=lambda d: d.w * d.h, reverse=True)
    if not found:
        return False
    spec = pred.spec if pred.spec.framing.detector == "blazeface" else replace(pred.spec, framing=load_fit("blazeface")[0])
    name = f"case{k:02d}"
    write_case(out, k, what, img_bgr, found[0], pred, spec)
    (out / f"{name}.raw").write_bytes(raw.astype("<f4").tobytes())
    (out / f"{name}.logits").write_bytes(logits.astype("<f4").tobytes())
    case = json.loads((out / f"{name}.json").read_text())
    case.update(framing=spec.framing.to_dict(), detections=[_numbers(d) for d in found], detector={
        "raw": f"{name}.raw", "logits": f"{name}.logits", "letterbox": [box.scale, box.px, box.py],
        "view_size": [int(view.image.shape[1]), int(view.image.shape[0])],
        "back": [float(v) for v in view.back.ravel()], "angle": view.angle, "min_size": cfg.min_size,
        "pass": ps.as_dict()})
    (out / f"{name}.json").write_text(json.dumps(case))
    return True


def _numbers(d: Detection) -> list[float]:
    return [d.x, d.y, d.w, d.h, *d.eyes[0], *d.eyes[1]]


def synthetic_outputs(net: blazeface.Network, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Made-up outputs of ``net``: two faces, each on the anchors nearest a chosen centre (overlapping anchors,
    tied scores), every other anchor well below the score threshold."""
    anchors = net.anchors()
    logits = np.full(len(anchors), -9.0, np.float32)
    raw = rng.normal(0, 1.5, (len(anchors), 16)).astype(np.float32)
    for centre, values, size in (((0.46, 0.42), (2.0, 2.0, 1.5, 0.7, 0.25), 44.0), ((0.19, 0.65), (1.0, 1.0, 0.4), 30.0)):
        size *= net.side / blazeface.SIDE
        near = np.argsort(np.hypot(*(anchors - centre).T), kind="stable")[:len(values)]
        for a, v in zip(near, values):
            logits[a] = v
            raw[a, 2:4] = size + rng.normal(0, 2, 2)
            raw[a, 4:8] = [-0.22 * size, -0.18 * size, 0.22 * size, -0.2 * size]  # the eyes: left, then right
    return raw, logits


def synthetic_detector_cases(out: Path, k: int, pred: TFLitePredictor) -> int:
    """Data-free detector cases: made-up network outputs (two faces, overlapping anchors, tied scores: the NMS,
    its order and the largest-first sort) decoded in every view of every BlazeFace pass of an odd-sized photo
    (the working-side rounding, both halves' windows, both turns), on each pass's network. Returns how many were
    written."""
    rng = np.random.default_rng(11)
    photo = rng.integers(0, 256, (751, 1001, 3), dtype=np.uint8)
    outputs = {name: synthetic_outputs(net, rng) for name, net in blazeface.NETWORKS.items()}
    cfg = DetectConfig(detector="blazeface")
    written = 0
    for ps, vs in views(photo, cfg):
        raw, logits = outputs[ps.network]
        for i, view in enumerate(vs):
            box = blazeface.Letterbox.of(view.image.shape[1], view.image.shape[0], blazeface.NETWORKS[ps.network].side)
            written += _write_decoded(out, k + written, f"synthetic BlazeFace outputs, pass {ps.as_dict()}, view {i}",
                                      photo, pred, (raw, logits, box), (ps, view), cfg)
    return written


def cascade_constants() -> dict:
    """What the app's Cascade must agree on with edge_age.data.faces (checked by GoldenTest)."""
    from edge_age.data import faces

    cfg = DetectConfig(detector="blazeface")
    return {"working_side": cfg.working_side(), "half_window": faces.HALF_WINDOW,
            "half_min_aspect": faces.HALF_MIN_ASPECT, "pad": cfg.pad, "min_size": cfg.min_size,
            "passes": [p.as_dict() for p in cfg.pass_list()], "side": blazeface.SIDE,
            "networks": [{"name": n.name, "file": n.file, "side": n.side, "layers": [list(x) for x in n.layers]}
                         for n in blazeface.NETWORKS.values()],
            "min_score": blazeface.BlazeConfig().min_score, "nms_iou": blazeface.BlazeConfig().nms_iou}


def scene_cases(img: np.ndarray, name: str) -> list[tuple[str, np.ndarray, Detection]]:
    """The face placed in scenes at several sizes and angles, with what the detector reports there."""
    out = []
    for j, (frac, angle) in enumerate([(0.2, 0.0), (0.45, 14.0), (0.3, -23.0)]):
        cfg = WildConfig(face_frac=(frac, frac), max_angle=0.0, seed=j)
        scene = place(img, img[::-1], np.random.default_rng([j, stable_hash(j, name)]), cfg)
        turned = cv2.warpAffine(scene.image, cv2.getRotationMatrix2D((320, 240), -angle, 1.0), (640, 480),
                                borderMode=cv2.BORDER_REFLECT)
        for det in detect_faces(turned)[:1]:
            out.append((f"real face in a scene, {frac:.0%} wide, turned {angle:+.0f} deg, "
                        f"eyes {'found' if det.eyes else 'not found'}", turned, det))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, type=Path, help="an int8 .tflite with its card beside it")
    ap.add_argument("--data", type=Path, default=None, help="real faces (UTKFace archive); synthetic cases only if absent")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--n-real", type=int, default=6)
    args = ap.parse_args()
    pred = TFLitePredictor(args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copy(card_path(args.model), args.out / "card.json")
    k = 0
    rng = np.random.default_rng(0)
    if args.data and args.data.exists():
        ls = load_labeled(args.data)
        pick = sorted(ls.samples, key=lambda s: stable_hash(7, s.name))[: args.n_real]
        for s, (_, data) in zip(pick, ls.container.read_many([p.name for p in pick])):
            img = decode_image(data, s.name)
            write_case(args.out, k, "real aligned face", img, None, pred)
            k += 1
            scenes = scene_cases(img, s.name)
            for what, scene, det in scenes:
                write_case(args.out, k, what, scene, det, pred)
                k += 1
                k += write_detector_case(args.out, k, f"{what}; BlazeFace from its raw outputs", scene, pred)
            # Each kind of view at least once, whether or not the cascade would reach it on this scene.
            for ps in BLAZEFACE_PASSES[1:4] if scenes else ():  # halves, tight chip, a turn
                what, scene, _ = scenes[-1]
                k += write_detector_case(args.out, k, f"{what}; BlazeFace pass {ps.as_dict()} forced", scene, pred, (ps,))
    k += synthetic_detector_cases(args.out, k, pred)
    (args.out / "cascade.json").write_text(json.dumps(cascade_constants()))
    eyes = ((300.25, 210.5), (352.75, 219.0))
    level = ((100.5, 120.0), (160.5, 120.0))  # level eyes, no box: the eye rule alone
    for w, h, det in [(37, 53, None), (300, 200, None), (128, 128, None),
                      (640, 480, Detection(10, 300, 120, 150)), (200, 200, Detection(150, 5, 60, 61)),
                      (640, 480, Detection(250.5, 170.25, 131.0, 131.0, angle=-12.0)),
                      (640, 480, Detection(250, 170, 131, 131, eyes=eyes)),
                      (320, 240, Detection(0, 0, 0, 0, eyes=level)),
                      (900, 700, Detection(-40, 500, 600, 600, angle=25.0))]:
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        if det is not None and det.w <= 0 and not pred.spec.framing.eye_scale:
            continue  # eyes alone need a card with an eye framing
        write_case(args.out, k, f"synthetic {w}x{h}", img, det, pred)
        k += 1
    # Per-face intervals as Python computes them, for the app's IntervalBands.
    fitted = file_entry(pred) and file_entry(pred).get("interval")
    if fitted:
        ages = np.array([0.5, 1.0, 5.0, 8.25, 11.0, 12.99, 13.0, 17.5, 24.9, 30.0, 44.0, 45.0, 59.99, 60.0, 70.5, 95.0, 119.0])
        lo, hi = intervals.interval(ages, fitted)
        (args.out / "intervals.json").write_text(json.dumps({"ages": ages.tolist(), "low": lo.tolist(),
                                                             "high": hi.tolist()}))
    # The start-up check's synthetic inputs: the Kotlin core must make the same bytes.
    (args.out / "golden_inputs.rgb").write_bytes(golden_inputs(pred.spec.size).tobytes())
    print(f"wrote {k} golden cases and the golden inputs to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
