"""Peak memory of `edge-age predict` on the largest photos it admits, on the path a user takes (detect, frame,
crop, model), with each detector: the figure a Raspberry Pi owner needs (issue 34 item 17: <= 600 MB).

The photos are made here (no dataset image): a drawn face in a 59-megapixel frame (just under the 64 MP cap) as a
JPEG, the same JPEG turned by its EXIF orientation tag, a 16-bit PNG, a frame without a face (every detector pass
runs), and a 12 MP phone-sized JPEG. Each `predict` runs as its own process; its peak resident set size is the
kernel's (``wait4``'s ``ru_maxrss``). Not a test: memory is measured here, never asserted in tests.

    python benchmarks/peak_memory.py --out benchmarks/peak_memory
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TARGET_MB = 600
DETECTORS = {"blazeface (the reference card's)": [], "mtcnn": ["--framing", "mtcnn"]}


def _frame(w: int, h: int, face: bool):
    import numpy as np

    sys.path.insert(0, str(REPO / "tests"))
    from conftest import drawn_face  # the drawn face every detector finds

    img = np.full((h, w, 3), 90, np.uint8)
    img[::7] += 20  # some texture, as a JPEG of a real room has
    if face:
        side = min(w, h) // 3
        y, x = h // 3, w // 3
        img[y:y + side, x:x + side] = drawn_face(side, 1)
    return img


PHOTOS = {"59 MP JPEG, a face": "big.jpg", "59 MP JPEG turned by EXIF (orientation 6)": "rot.jpg",
          "59 MP 16-bit PNG, a face": "big16.png", "59 MP JPEG, no face": "empty.jpg", "12 MP JPEG, a face": "phone.jpg"}


def make_photos(folder: Path) -> dict[str, Path]:
    """Run in a child process (``--make``): a parent that held these frames would pass its own peak on to every
    process it starts, in ``ru_maxrss``."""
    import cv2
    import numpy as np
    from PIL import Image

    big, phone = _frame(8864, 6656, True), _frame(4000, 3000, True)
    photos = {what: folder / name for what, name in PHOTOS.items()}
    cv2.imwrite(str(photos["59 MP JPEG, a face"]), big, [cv2.IMWRITE_JPEG_QUALITY, 85])
    with Image.open(photos["59 MP JPEG, a face"]) as im:
        exif = im.getexif()
        exif[0x0112] = 6
        im.save(photos["59 MP JPEG turned by EXIF (orientation 6)"], exif=exif, quality=85)
    cv2.imwrite(str(photos["59 MP 16-bit PNG, a face"]), big.astype(np.uint16) * 257, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    cv2.imwrite(str(photos["59 MP JPEG, no face"]), _frame(8864, 6656, False), [cv2.IMWRITE_JPEG_QUALITY, 85])
    cv2.imwrite(str(photos["12 MP JPEG, a face"]), phone, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return photos


def peak_of(cmd: list[str]) -> tuple[int, float, int]:
    """(return code, peak RSS in MB, seconds) of one process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024, time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("benchmarks/peak_memory"), help="writes OUT.json and OUT.md")
    ap.add_argument("--make", type=Path, help=argparse.SUPPRESS)  # the child that writes the photos
    args = ap.parse_args()
    if args.make:
        make_photos(args.make)
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, __file__, "--make", tmp], check=True)
        for what, name in PHOTOS.items():
            photo = Path(tmp) / name
            for det, opts in DETECTORS.items():
                cmd = [sys.executable, "-m", "edge_age", "predict", str(photo), *opts, "--threads", "1",
                       "--json", str(Path(tmp) / "out.json")]
                rc, mb, s = peak_of(cmd)
                faces = json.loads((Path(tmp) / "out.json").read_text())["results"] if rc == 0 else []
                rows.append({"photo": what, "detector": det, "rc": rc, "faces": len(faces), "peak_rss_mb": round(mb, 1),
                             "seconds": round(s, 2)})
                print(f"{what:<44} {det:<34} rc {rc}  faces {len(faces)}  peak {mb:6.1f} MB  {s:5.2f} s")
    result = {"command": "python benchmarks/peak_memory.py --out " + str(args.out), "cpu": platform.processor()
              or _cpu(), "date": time.strftime("%Y-%m-%d"), "target_mb": TARGET_MB, "rows": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
    worst = max(r["peak_rss_mb"] for r in rows)
    md = [f"# Peak memory of `edge-age predict` on the largest photos ({result['date']}, {result['cpu']})", "",
          f"`{result['command']}`: each photo in its own process, 1 thread, detection on (the default); peak "
          f"resident set size from the kernel. Target (issue 34 item 17): <= {TARGET_MB} MB for any photo the "
          f"64 MP cap admits. Worst here: **{worst:.0f} MB**.", "",
          "| photo | detector | exit | faces | peak RSS (MB) | seconds |", "|---|---|---:|---:|---:|---:|"]
    md += [f"| {r['photo']} | {r['detector']} | {r['rc']} | {r['faces']} | {r['peak_rss_mb']:.0f} | {r['seconds']:.2f} |"
           for r in rows]
    args.out.with_suffix(".md").write_text("\n".join(md) + "\n")
    print(f"worst {worst:.0f} MB (target {TARGET_MB}); wrote {args.out}.json and {args.out}.md")
    return 0


def _cpu() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.machine()


if __name__ == "__main__":
    sys.exit(main())
