"""How still a still face's age is in a video, and the frames per second end to end (issue 33's video targets).

Each video is made here from one faces-in-context test scene (`edge-age data wild --split test`, 640x480, one
face): 100 frames of the same scene as a camera on a tripod sees it, each frame with its own sensor noise
(Gaussian, sigma 3 grey levels), a light flicker (+-2% gain) and a hand tremor (a shift of up to 1 px), written as
an MPEG-4 file (lossy: every frame is re-encoded). `edge-age predict --video`'s own code scores it (detect -> frame
-> crop -> model per frame, IoU tracker, a track's age the running mean of its last 15 estimates). Reported per
video: the std of the track's age over its frames (the target: <= 1 year over 100 frames), the std of the raw
per-frame estimates, and frames/s on one thread (the target: >= 30 for 640x480 with 1-3 faces).

    python benchmarks/video_still.py --wild runs/wild_test --videos 30 --out benchmarks/video_still

Imports no torch (the runtime only).
"""

from __future__ import annotations

import argparse
import csv
import json
import shlex
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from edge_age import fileio
from edge_age.bench.harness import machine_info
from edge_age.runtime.video import VideoConfig, track_video

FRAMES = 100


def still_video(scene: np.ndarray, path: Path, rng: np.random.Generator, frames: int = FRAMES) -> None:
    """``frames`` frames of one scene as a still camera records it (noise, flicker, tremor), MPEG-4."""
    h, w = scene.shape[:2]
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, (w, h))
    base = scene.astype(np.float32)
    for _ in range(frames):
        dx, dy = rng.uniform(-1, 1, 2)
        shifted = cv2.warpAffine(base, np.float32([[1, 0, dx], [0, 1, dy]]), (w, h), borderMode=cv2.BORDER_REFLECT)
        frame = shifted * rng.uniform(0.98, 1.02) + rng.normal(0, 3, base.shape)
        out.write(np.clip(frame, 0, 255).round().astype(np.uint8))
    out.release()


def measure(scene_file: Path, work: Path, rng: np.random.Generator, model: str | None) -> dict:
    """One scene's video: its main track's age std (smoothed and raw) and the frames per second."""
    video, lines = work / "still.mp4", work / "still.jsonl"
    still_video(cv2.imread(str(scene_file)), video, rng)
    run = track_video(VideoConfig(source=str(video), model=model, json=str(lines), threads=1), log=lambda _: None)
    per_track: dict[int, list[float]] = {}
    raw_of: dict[int, list[float]] = {}
    for rec in map(json.loads, lines.read_text().splitlines()):
        for face in rec.get("faces", ()):
            per_track.setdefault(face["track"], []).append(face["track_age"])
            raw_of.setdefault(face["track"], []).append(face["age"])
    main = max(per_track.values(), key=len) if per_track else []
    raw_main = max(raw_of.values(), key=len) if raw_of else []
    raw = max(run["tracks"], key=lambda t: t["frames"]) if run["tracks"] else None
    return {"scene": scene_file.name, "frames": run["frames"], "fps": round(run["fps"], 1), "tracks": len(run["tracks"]),
            "frames_with_face": len(main), "track_age_std": round(float(np.std(main)), 3) if main else None,
            "raw_age_std": raw["age_std"] if raw else None, "track_age": round(float(np.mean(main)), 2) if main else None,
            "smoothing_std": {name: round(float(np.std(smoothed(raw_main, name))), 3) for name in SMOOTHINGS} if raw_main else None}


# Ways a track's age could follow its estimates (the std over the video of each, from the same raw estimates): a
# running mean of the last 15 (the default before), a longer window, a running median (one bad frame moves it less),
# every frame so far (mean_all: predict --video's default).
SMOOTHINGS = ("mean15", "mean30", "median15", "median30", "mean_all", "median_all")


def smoothed(raw: list[float], name: str) -> np.ndarray:
    stat = np.median if name.startswith("median") else np.mean
    window = name.split("_")[-1] if "_" in name else name.removeprefix("median").removeprefix("mean")
    n = len(raw) if window == "all" else int(window)
    return np.array([stat(raw[max(0, i + 1 - n):i + 1]) for i in range(len(raw))])


def summary(rows: list[dict]) -> dict:
    ok = [r for r in rows if r["track_age_std"] is not None]
    std = np.array([r["track_age_std"] for r in ok])
    raw = np.array([r["raw_age_std"] for r in ok])
    fps = np.array([r["fps"] for r in rows])
    alt = {name: np.array([r["smoothing_std"][name] for r in ok]) for name in SMOOTHINGS}
    return {"smoothing": {name: {"median": round(float(np.median(v)), 3), "max": round(float(v.max()), 3),
                                 "within_1_year": round(float(np.mean(v <= 1.0)), 3)} for name, v in alt.items()},
            "videos": len(rows), "videos_with_a_track": len(ok),
            "one_track_share": round(float(np.mean([r["tracks"] == 1 for r in rows])), 3),
            "track_age_std_median": round(float(np.median(std)), 3), "track_age_std_p90": round(float(np.percentile(std, 90)), 3),
            "track_age_std_max": round(float(std.max()), 3), "share_within_1_year": round(float(np.mean(std <= 1.0)), 3),
            "raw_age_std_median": round(float(np.median(raw)), 3), "fps_median": round(float(np.median(fps)), 1),
            "fps_min": round(float(fps.min()), 1)}


def table(s: dict) -> list[str]:
    return ["| videos (100 frames) | one track | track age std: median / p90 / max | within 1 year | raw estimate std "
            "(median) | frames/s: median / min |", "|---:|---:|---:|---:|---:|---:|",
            f"| {s['videos']} | {s['one_track_share']:.0%} | {s['track_age_std_median']:.2f} / {s['track_age_std_p90']:.2f}"
            f" / {s['track_age_std_max']:.2f} | {s['share_within_1_year']:.0%} | {s['raw_age_std_median']:.2f} | "
            f"{s['fps_median']:.1f} / {s['fps_min']:.1f} |"]


def smoothing_table(s: dict) -> list[str]:
    return ["| a track's age (from the same per-frame estimates) | std over the video: median / max | within 1 year |",
            "|---|---:|---:|",
            *[f"| {name}{' (predict --video)' if name == 'mean_all' else ''} | {v['median']:.2f} / {v['max']:.2f} | "
              f"{v['within_1_year']:.0%} |" for name, v in s["smoothing"].items()]]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wild", type=Path, required=True, help="a faces-in-context folder (edge-age data wild)")
    ap.add_argument("--videos", type=int, default=30, help="videos, each from one scene spread over the set (default: %(default)s)")
    ap.add_argument("--model", default=None, help="model file (default: the bundled reference)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True, help="writes OUT.json and OUT.md")
    args = ap.parse_args(argv)
    rows_csv = list(csv.DictReader(open(args.wild / "labels.csv")))
    if not rows_csv:
        raise SystemExit(f"{args.wild}: no scenes in labels.csv")
    pick = sorted(set(np.linspace(0, len(rows_csv) - 1, min(args.videos, len(rows_csv))).round().astype(int)))
    rng = np.random.default_rng(args.seed)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, i in enumerate(pick):
            rows.append(measure(args.wild / rows_csv[i]["file_name"], Path(tmp), rng, args.model))
            print(f"\r{k + 1}/{len(pick)} videos", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    s = summary(rows)
    command = "python benchmarks/video_still.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    record = {"command": command, "machine": machine_info((1,)), "model": args.model or "bundled reference",
              "summary": s, "videos": [{k: v for k, v in r.items() if k != "scene"} for r in rows]}
    fileio.write_text(args.out.with_suffix(".json"), fileio.json_text(record))
    md = ["# A still face in a video: how much its track's age moves, and frames/s", "", f"Made by `{command}`",
          "(each video made by the script from one scene: sensor noise, flicker, a 1 px tremor, MPEG-4; one "
          "thread).", "", *table(s), "", "The track's age as `predict --video` gives it (the first table) and as other "
          "running statistics of the same estimates would: mean or median of the last 15 or 30, or of every frame so "
          "far (`mean_all`, the default since it was chosen on still faces made from val scenes).", "",
          *smoothing_table(s), ""]
    fileio.write_text(args.out.with_suffix(".md"), "\n".join(md))
    print("\n".join(table(s)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
