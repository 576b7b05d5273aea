"""Run folders are owned, resumes stay on their data, writes replace only regular files, no false success."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from conftest import make_utk
from edge_age import fileio
from edge_age.cli import main
from edge_age.data.dataset import DataConfig
from edge_age.errors import EdgeAgeError
from edge_age.train.loop import TrainConfig, train

QUICK = dict(epochs=1, batch_size=16, threads=1, max_steps=2, precision="fp32")


def test_a_run_folder_held_by_a_live_process_is_refused(utk_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text(json.dumps({"pid": os.getppid(), "host": socket.gethostname()}))
    with pytest.raises(EdgeAgeError, match=f"in use by another edge-age run \\(pid {os.getppid()}"):
        train(TrainConfig(out=str(out), **QUICK), DataConfig(str(utk_dir)), progress=False,
              cache_dir=tmp_path / "c", log=lambda s: None)
    assert not (out / "best.pt").exists() and (out / ".lock").exists()  # the holder's lock stays


def test_a_lock_left_by_a_killed_run_is_taken_over_and_released(utk_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / ".lock").write_text(json.dumps({"pid": 999_999_999, "host": socket.gethostname()}))
    train(TrainConfig(out=str(out), **QUICK), DataConfig(str(utk_dir)), progress=False,
          cache_dir=tmp_path / "c", log=lambda s: None)
    assert (out / "best.pt").is_file() and not (out / ".lock").exists()


def test_resume_on_other_data_is_refused_unless_asked(utk_dir: Path, tmp_path: Path) -> None:
    out, cache = tmp_path / "run", tmp_path / "c"
    train(TrainConfig(out=str(out), **QUICK), DataConfig(str(utk_dir)), progress=False, cache_dir=cache,
          log=lambda s: None)
    before = (out / "best.pt").read_bytes()
    other = make_utk(tmp_path / "other", n_per_age=5)
    more = TrainConfig(out=str(out), **{**QUICK, "epochs": 2})
    with pytest.raises(EdgeAgeError, match="other data"):
        train(more, DataConfig(str(other)), resume=True, progress=False, cache_dir=cache, log=lambda s: None)
    assert (out / "best.pt").read_bytes() == before
    summary = train(more, DataConfig(str(other)), resume=True, progress=False, cache_dir=cache, log=lambda s: None,
                    resume_new_data=True)
    assert summary["epochs_run"] == 2


def test_no_epoch_is_an_error_not_a_success(utk_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(EdgeAgeError, match="no epoch completed"):
        train(TrainConfig(out=str(tmp_path / "run"), **{**QUICK, "epochs": 0}), DataConfig(str(utk_dir)),
              progress=False, cache_dir=tmp_path / "c", log=lambda s: None)
    assert not (tmp_path / "run" / "best.pt").exists()


def test_one_age_for_every_face_is_warned(tmp_path: Path) -> None:
    data = make_utk(tmp_path / "UTKFace", n_per_age=30, ages=[30])
    lines: list[str] = []
    train(TrainConfig(out=str(tmp_path / "run"), **QUICK), DataConfig(str(data)), progress=False,
          cache_dir=tmp_path / "c", log=lines.append)
    assert any("every training face is labelled 30" in s for s in lines)


@pytest.mark.parametrize("kind", ["symlink", "folder", "device"])
def test_an_output_that_is_not_a_regular_file_is_refused(kind: str, tmp_path: Path, capsys) -> None:
    target = tmp_path / "out.json"
    keep = tmp_path / "keep.json"
    keep.write_text("precious")
    if kind == "symlink":
        target.symlink_to(keep)
    elif kind == "folder":
        target.mkdir()
    else:
        target = Path("/dev/null")
    with pytest.raises(EdgeAgeError, match="refusing to replace it"):
        fileio.write_json(target, {"a": 1})
    assert keep.read_text() == "precious" and (kind != "symlink" or target.is_symlink())
    assert Path("/dev/null").is_char_device()


def test_a_killed_writers_temp_file_is_cleaned_on_the_next_write(tmp_path: Path) -> None:
    stale = tmp_path / ".m.json.999999999.x1y2.tmp"  # no such process
    stale.write_bytes(b"\0" * 1000)
    live = tmp_path / f".m.json.{os.getppid()}.a1b2.tmp"  # a writer still at work
    live.write_bytes(b"partial")
    fileio.write_json(tmp_path / "m.json", {"ok": True})
    assert not stale.exists() and live.exists()


def test_eval_json_to_a_symlink_is_a_one_line_error(exported: dict, tmp_path: Path, capsys) -> None:
    keep = tmp_path / "keep.json"
    keep.write_text("precious")
    (tmp_path / "link.json").symlink_to(keep)
    rc = main(["eval", str(exported["out"] / "simplecnn_int8.onnx"), "--data", str(exported["data"]),
               "--split", "val", "--json", str(tmp_path / "link.json"), "--no-progress",
               "--cache-dir", str(exported["cache"]), "--out", str(tmp_path / "ev")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "link.json" in err and "symlink" in err and len(err.splitlines()) == 1
    assert keep.read_text() == "precious"


def _png(w: int, h: int, rows: int | None = None) -> bytes:
    """A PNG header of w x h with ``rows`` rows of zero pixels (all rows when None): a bomb compresses
    to almost nothing, a liar carries fewer rows than its header says."""
    import struct
    import zlib

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    z = zlib.compressobj(9)
    row = b"\0" * (w * 3 + 1)
    body = b"".join(z.compress(row) for _ in range(h if rows is None else rows)) + z.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", body) + chunk(b"IEND", b""))


@pytest.mark.parametrize("w, h, rows, why", [
    (14000, 14000, None, "too large"),  # past Pillow's own bomb limit: once swallowed, then decoded (2.4 GB)
    (9000, 9000, None, "too large"),  # over our limit, under Pillow's
    (4000, 4000, 2, "not a readable image"),  # header lies about the size
])
def test_bombs_and_lying_headers_are_skipped_and_the_rest_scored(exported: dict, tmp_path: Path, capsys,
                                                                  w, h, rows, why) -> None:
    import resource

    from conftest import face_image, write_jpg

    bad = tmp_path / "bad.png"
    bad.write_bytes(_png(w, h, rows))
    good = write_jpg(tmp_path / "good.jpg", face_image(30, 1, size=128))
    js = tmp_path / "p.json"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rc = main(["predict", "--crops", str(bad), str(good), "--model", str(exported["out"] / "simplecnn_int8.onnx"),
               "--json", str(js)])
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    res = json.loads(js.read_text())["results"]
    assert rc == 0 and "age" in res[1] and why in res[0]["error"], res
    assert grown_mb < 500, f"peak memory grew {grown_mb:.0f} MB on {w}x{h}"
    assert "Traceback" not in capsys.readouterr().err
