"""``edge-age predict --video FILE`` / ``--camera N``: ages of the faces in a video, per frame and per track.
Imports no torch.

Every frame goes the photo path (detect -> frame -> crop -> model, as ``predict`` on a photo). Faces are linked
from frame to frame by the overlap of their boxes (greedy IoU), so each person keeps a track id, and a track's age
is the mean of all its estimates so far (``smooth``: of the last N only): one face's estimate moves by a year or two
from frame to frame with light and pose, and a person's age does not change within a video, so the mean over the
whole track is the steadiest (still faces made from val scenes: every track's age within 1 year std over 100 frames
with the whole track, 90% with the last 15; benchmarks/video_still.md). The card's 80% interval is given around
that mean.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import cv2
import numpy as np

from edge_age import fileio
from edge_age.data.preprocess import MAX_PIXELS, prepare_face
from edge_age.errors import EdgeAgeError
from edge_age.runtime import intervals, load_predictor
from edge_age.runtime.card import file_entry
from edge_age.runtime.outputs import not_an_age
from edge_age.runtime.predict import Face, annotate, default_model, faces_in

CODECS = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "MJPG"}


@dataclass(frozen=True)
class VideoConfig:
    source: str  # a video file, or a camera index ("0")
    model: str | None = None  # default: the bundled reference
    json: str | None = None  # JSON lines: one per frame, then one per track ("-": standard output)
    annotate: str | None = None  # a video file: each frame with its faces' squares, track ids and ages
    threads: int = 0
    max_frames: int | None = None  # stop after this many frames (a camera runs until Ctrl-C otherwise)
    smooth: int = 0  # a track's age: the mean of its last this many estimates (0: all of them)
    min_iou: float = 0.3  # a face continues a track whose last box it overlaps at least this much
    max_gap: int = 10  # frames a track may go unseen before it ends
    framing: str | None = None  # detect and frame with this fit instead of the card's (predict --framing)

    @property
    def camera(self) -> int | None:
        return int(self.source) if self.source.isdigit() else None


@dataclass
class Track:
    id: int
    box: list[float]
    last_frame: int
    first_frame: int
    recent: deque = field(default_factory=deque)  # the estimates the running mean is over (maxlen: smooth, or all)
    all_ages: list[float] = field(default_factory=list)
    total: float = 0.0  # sum of all_ages (smooth 0: the track's age is total / its frames)

    def add(self, box: list[float], age: float, frame: int) -> float:
        self.box, self.last_frame = box, frame
        self.all_ages.append(age)
        if self.recent.maxlen is None:  # the whole track: a running sum, not a mean over a growing list each frame
            self.total += age
            return self.total / len(self.all_ages)
        self.recent.append(age)
        return float(np.mean(self.recent))

    def summary(self) -> dict[str, Any]:
        ages = np.asarray(self.all_ages)
        return {"track": self.id, "first_frame": self.first_frame, "last_frame": self.last_frame,
                "frames": len(ages), "age": round(float(ages.mean()), 2), "age_std": round(float(ages.std()), 2)}


def iou(a: list[float], b: list[float]) -> float:
    """Overlap of two x, y, w, h boxes: intersection over union."""
    x0, y0 = max(a[0], b[0]), max(a[1], b[1])
    x1, y1 = min(a[0] + a[2], b[0] + b[2]), min(a[1] + a[3], b[1] + b[3])
    inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


class Tracker:
    """Greedy IoU matching of this frame's boxes to the live tracks (highest overlap first); a box no live
    track overlaps enough starts a new track; a track unseen for more than ``max_gap`` frames ends."""

    def __init__(self, cfg: VideoConfig) -> None:
        self.cfg = cfg
        self.live: list[Track] = []
        self.done: list[Track] = []
        self.next_id = 1

    def assign(self, boxes: list[list[float]], frame: int) -> list[Track]:
        pairs = sorted(((iou(t.box, b), ti, bi) for ti, t in enumerate(self.live) for bi, b in enumerate(boxes)),
                       reverse=True)
        owner: dict[int, Track] = {}
        taken: set[int] = set()
        for overlap, ti, bi in pairs:
            if overlap >= self.cfg.min_iou and ti not in taken and bi not in owner:
                owner[bi] = self.live[ti]
                taken.add(ti)
        for bi in range(len(boxes)):
            if bi not in owner:
                owner[bi] = Track(self.next_id, boxes[bi], frame, frame, deque(maxlen=self.cfg.smooth or None))
                self.live.append(owner[bi])
                self.next_id += 1
        self.done += [t for t in self.live if frame - t.last_frame > self.cfg.max_gap]
        self.live = [t for t in self.live if frame - t.last_frame <= self.cfg.max_gap]
        return [owner[bi] for bi in range(len(boxes))]

    def all(self) -> list[Track]:
        return sorted(self.done + self.live, key=lambda t: t.id)


def _frames(cfg: VideoConfig) -> Iterator[tuple[int, float, np.ndarray, float]]:
    """(index, time in seconds, BGR frame, the source's frame rate) from the file or camera, opened once; a source
    that cannot be opened is one line. A rate the source does not state (a camera, some files) reads 30."""
    if cfg.camera is None and not Path(cfg.source).is_file():  # a fifo or a device would block the decoder forever
        why = "not a regular file (a folder, a fifo or a device)" if Path(cfg.source).exists() else "no such file"
        raise EdgeAgeError(f"cannot open the video ({why})", Path(cfg.source))
    cap = cv2.VideoCapture(cfg.camera if cfg.camera is not None else cfg.source)
    if not cap.isOpened():
        if cfg.camera is not None:
            raise EdgeAgeError(f"--camera {cfg.camera}: cannot open it (no such camera, or in use)")
        raise EdgeAgeError("cannot open the video (missing, unreadable or not a format OpenCV decodes)",
                           Path(cfg.source))
    rate = cap.get(cv2.CAP_PROP_FPS)
    rate = rate if 1 <= rate <= 240 else 30.0
    w, h = cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)
    if w * h > MAX_PIXELS:  # stated before any frame is decoded: a frame over the photos' cap is refused as they are
        cap.release()
        raise EdgeAgeError(f"frames of {w:.0f}x{h:.0f} pixels are over the limit of {MAX_PIXELS:,}",
                           Path(cfg.source) if cfg.camera is None else f"--camera {cfg.camera}")
    try:
        i = 0
        while cfg.max_frames is None or i < cfg.max_frames:
            ok, frame = cap.read()
            if not ok:
                return
            yield i, cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0, frame, rate
            i += 1
    finally:
        cap.release()


def _face_entry(d: dict[str, Any], track: Track, age: float, smoothed: float, fitted: dict[str, Any] | None) -> dict:
    """One face's JSON entry from its ``Face.as_dict()``, its track and both ages."""
    entry = {"track": track.id, "box": d["box"], "eyes": d["eyes"], "age": round(age, 2),
             "track_age": round(smoothed, 2), "interval": None}
    if fitted:
        lo, hi = (float(v[0]) for v in intervals.interval(np.array([smoothed]), fitted))
        entry["interval"] = [round(lo, 1), round(hi, 1)]
    return entry


class _Writer:
    """The annotated video, written to a staging file and moved into place when complete."""

    def __init__(self, path: Path, fps: float, shape: tuple[int, ...]) -> None:
        codec = CODECS.get(path.suffix.lower())
        if codec is None:
            raise EdgeAgeError(f"--annotate names a video file ({', '.join(CODECS)})", path)
        fileio.check_target(path)
        self.path, self.tmp = path, path.with_name(f".{path.name}.partial{path.suffix}")
        self.out = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*codec), fps, (shape[1], shape[0]))
        if not self.out.isOpened():
            raise EdgeAgeError(f"OpenCV cannot write {codec} video here", path)

    def write(self, frame: np.ndarray) -> None:
        self.out.write(frame)

    def close(self, keep: bool = True) -> None:
        """Move the finished video into place; ``keep=False`` (a failed run) removes the staging file."""
        self.out.release()
        if keep:
            self.tmp.replace(self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def _score_frame(frame: np.ndarray, predictor: Any) -> tuple[list[Face], list[float], list[dict[str, Any]]]:
    """The frame's faces and their ages, and the faces the model gave no age (a NaN or infinite output: their
    box and why; never tracked, averaged or written as an age)."""
    faces = faces_in(frame, True, predictor.spec)
    if not faces:
        return [], [], []
    crops = np.stack([prepare_face(f.crop, predictor.spec) for f in faces])
    ages = [float(a) for a in predictor.predict(crops)]
    errors = [{"box": f.as_dict()["box"], "error": not_an_age(a)} for f, a in zip(faces, ages) if not_an_age(a)]
    scored = [(f, a) for f, a in zip(faces, ages) if not_an_age(a) is None]
    return [f for f, _ in scored], [a for _, a in scored], errors


def _run(cfg: VideoConfig, predictor: Any, tracker: Tracker, lines: list[dict[str, Any]]) -> tuple[int, bool]:
    """Score and track every frame into ``lines`` (and the annotated video); the frame count, and whether
    Ctrl-C stopped it (a camera runs until stopped: what was seen is kept)."""
    fitted = (file_entry(predictor) or {}).get("interval")
    writer, n, ok = None, 0, False
    try:
        for i, t, frame, rate in _frames(cfg):
            faces, ages, no_age = _score_frame(frame, predictor)
            found = [f.as_dict() for f in faces]
            tracks = tracker.assign([d["box"] for d in found], i)
            entries = [_face_entry(d, tr, a, tr.add(d["box"], a, i), fitted) for d, tr, a in zip(found, tracks, ages)]
            lines.append({"frame": i, "time_s": round(t, 3), "faces": entries,
                          **({"face_errors": no_age} if no_age else {})})
            if cfg.annotate:
                writer = writer or _Writer(Path(cfg.annotate), rate, frame.shape)
                writer.write(annotate(frame, faces, [f"#{e['track']} {e['track_age']:.0f}" for e in entries]))
            n = i + 1
        ok = True
    except KeyboardInterrupt:
        ok = True
        return n, True
    finally:
        if writer:
            writer.close(keep=ok)
    return n, False


def track_video(cfg: VideoConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the video; write ``cfg.json`` (JSON lines: one per frame, then one per track) and ``cfg.annotate``;
    return the tracks, the frame count and the end-to-end frames per second (decode, detect, crop, model,
    tracking)."""
    if cfg.json:
        fileio.check_target(Path(cfg.json))
    predictor = load_predictor(cfg.model or default_model(), threads=cfg.threads or None, framing=cfg.framing)
    tracker, lines, t0 = Tracker(cfg), [], time.perf_counter()
    n, interrupted = _run(cfg, predictor, tracker, lines)
    fps = n / max(time.perf_counter() - t0, 1e-9)
    tracks = [tr.summary() for tr in tracker.all()]
    if cfg.json:
        fileio.write_text(cfg.json, "".join(fileio.json_text(x, indent=None) + "\n" for x in lines + tracks))
    log(f"{n} frame(s), {len(tracks)} track(s), {fps:.1f} frames/s end to end [{predictor.name}, {predictor.runtime}]")
    if no_age := sum(len(x.get("face_errors", ())) for x in lines):
        log(f"  {no_age} face(s) left out: the model's output was NaN or infinite, not an age")
    for tr in tracks:
        log(f"  track {tr['track']}: age {tr['age']:.1f} (std {tr['age_std']:.1f} over {tr['frames']} frames)")
    return {"frames": n, "fps": fps, "tracks": tracks, "interrupted": interrupted}
