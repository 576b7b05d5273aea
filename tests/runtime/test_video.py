"""`predict --video`: faces found in every frame, linked into tracks by box overlap, each track's age the mean of
its last estimates; JSON lines per frame and per track, an annotated video. The video is made here from a drawn
face moving across a 640x480 scene, and a second face that comes in halfway."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import drawn_face
from edge_age.cli import main
from edge_age.runtime.video import Tracker, VideoConfig, iou

FRAMES = 40


def _video(path: Path) -> Path:
    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.integers(60, 200, (480, 640, 3), dtype=np.uint8), (0, 0), 8)
    one, two = drawn_face(150, seed=1), drawn_face(130, seed=2)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15, (640, 480))
    assert out.isOpened()
    for i in range(FRAMES):
        frame = background.copy()
        x = 60 + 2 * i  # the first face walks right, two pixels a frame
        frame[150:300, x:x + 150] = one
        if i >= FRAMES // 2:
            frame[200:330, 450:580] = two
        out.write(frame)
    out.release()
    return path


def test_a_video_gives_one_steady_track_per_face(tmp_path: Path, capsys) -> None:
    video = _video(tmp_path / "walk.avi")
    js, annotated = tmp_path / "ages.jsonl", tmp_path / "annotated.avi"
    assert main(["predict", "--video", str(video), "--json", str(js), "--annotate", str(annotated)]) == 0
    lines = [json.loads(line) for line in js.read_text().splitlines()]
    frames, tracks = [x for x in lines if "frame" in x], [x for x in lines if "frame" not in x]
    assert [f["frame"] for f in frames] == list(range(FRAMES))
    first = [face for f in frames[: FRAMES // 2] for face in f["faces"]]
    assert len(first) >= 0.9 * (FRAMES // 2) and {face["track"] for face in first} == {1}
    second = [face for f in frames[FRAMES // 2:] for face in f["faces"] if face["box"][0] > 400]
    assert len(second) >= 0.9 * (FRAMES // 2) and {face["track"] for face in second} == {2}
    steady = [face["track_age"] for face in first[5:]]  # past the first few frames of the running mean
    assert np.std(steady) <= 1.0, steady
    assert all(face["interval"][0] <= face["track_age"] <= face["interval"][1] for face in first)
    ones = [face for f in frames for face in f["faces"] if face["track"] == 1]
    assert [t["track"] for t in tracks] == [1, 2] and tracks[0]["frames"] == len(ones) >= 0.9 * FRAMES
    cap = cv2.VideoCapture(str(annotated))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == FRAMES
    cap.release()
    said = capsys.readouterr()
    assert "frames/s end to end" in said.out + said.err


def test_video_sources_and_options_that_do_not_apply_are_one_line(tmp_path: Path, capsys) -> None:
    for argv, message in ((["--video", str(tmp_path / "none.avi")], "cannot open the video"),
                          (["--camera", "97", "--max-frames", "1"], "--camera 97: cannot open it"),
                          (["--video", "v.avi", "--crops"], "--crops does not apply"),
                          (["--video", "v.avi", "a.jpg"], "not both")):
        assert main(["predict", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err


def test_the_tracker_follows_overlap_and_ends_lost_tracks() -> None:
    assert iou([0, 0, 10, 10], [5, 0, 10, 10]) == pytest.approx(50 / 150)
    assert iou([0, 0, 10, 10], [20, 20, 5, 5]) == 0
    tracker = Tracker(VideoConfig(source="x", min_iou=0.3, max_gap=2))
    a, b = tracker.assign([[0, 0, 10, 10], [100, 0, 10, 10]], 0)
    assert (a.id, b.id) == (1, 2)
    for t in (a, b):
        t.add(t.box, 30.0, 0)
    # the boxes swap their order and move a little: each keeps its track; a far box starts a third
    c, d, e = tracker.assign([[102, 1, 10, 10], [1, 1, 10, 10], [300, 300, 10, 10]], 1)
    assert (c.id, d.id, e.id) == (2, 1, 3)
    assert tracker.assign([], 5) == [] and not tracker.live  # unseen for more than max_gap frames: ended
    assert [t.id for t in tracker.all()] == [1, 2, 3]


def test_a_track_age_is_the_mean_of_all_its_estimates_or_of_the_last_few() -> None:
    """Default (smooth 0): the whole track's mean, the steadiest for one person (benchmarks/video_still.md);
    smooth N: the last N only."""
    from collections import deque

    from edge_age.runtime.video import Track, VideoConfig

    assert VideoConfig(source="x.mp4").smooth == 0
    ages = [10.0, 30.0, 20.0, 40.0]
    whole = Track(1, [0, 0, 1, 1], 0, 0, deque(maxlen=None))
    last2 = Track(2, [0, 0, 1, 1], 0, 0, deque(maxlen=2))
    got_whole = [whole.add([0, 0, 1, 1], a, i) for i, a in enumerate(ages)]
    got_last2 = [last2.add([0, 0, 1, 1], a, i) for i, a in enumerate(ages)]
    assert got_whole == [10.0, 20.0, 20.0, 25.0] and got_last2 == [10.0, 20.0, 25.0, 30.0]
    assert whole.summary()["age"] == 25.0 and whole.summary()["frames"] == 4
