"""Issue 34 item 12: a file name that is not UTF-8 (bytes on Linux) is hashed as its bytes and printed escaped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from edge_age import fileio
from edge_age.data.split import SplitConfig, assign_splits, limit_mask, stable_hash

from conftest import drawn_face, write_jpg

BAD = b"\xff\xfe.jpg".decode("utf-8", "surrogateescape")  # what os.listdir gives for that name


def test_a_non_utf8_name_is_hashed_as_its_bytes(tmp_path: Path) -> None:
    with open(os.path.join(str(tmp_path), BAD), "wb"):
        pass
    (name,) = os.listdir(str(tmp_path))
    h = stable_hash(3, name)
    assert h == stable_hash(3, BAD) and h != stable_hash(3, "\ufffd\ufffd.jpg")
    assert stable_hash(0, "f\u00e9.jpg") == stable_hash(0, os.fsdecode("f\u00e9.jpg".encode()))
    names = [BAD, "a.jpg", "b.jpg", "\udc80x.jpg"]
    out = assign_splits(names, [30.0] * 4, SplitConfig(seed=1))
    assert set(out) <= {"train", "val", "test"} and len(out) == 4
    assert limit_mask(names, 2, 0).sum() == 2


def test_a_utf8_name_hashes_as_before() -> None:
    import hashlib

    old = int.from_bytes(hashlib.blake2b("7\0f\u00e9/x.jpg".encode(), digest_size=8).digest(), "big")
    assert stable_hash(7, "f\u00e9/x.jpg") == old


def test_tsv_field_escapes_the_bytes_of_a_non_utf8_name() -> None:
    assert fileio.tsv_field("/d/" + BAD) == "/d/\\xff\\xfe.jpg"
    assert fileio.tsv_field("a\tb\\c.jpg") == "a\\tb\\\\c.jpg"
    assert fileio.tsv_field("\ud800.jpg") == "\\ud800.jpg"  # a surrogate no byte makes: still printable
    assert fileio.tsv_field("f\u00e9.jpg") == "f\u00e9.jpg"


def test_predict_prints_a_non_utf8_name_escaped(tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    write_jpg(folder / "ok.jpg", drawn_face(96))
    os.rename(folder / "ok.jpg", os.path.join(str(folder), BAD))
    env = {**os.environ, "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8", "PYTHONUTF8": "0",
           "EDGE_AGE_CACHE": str(tmp_path / "cache")}
    r = subprocess.run([sys.executable, "-m", "edge_age", "predict", "--crops", os.path.join(str(folder), BAD),
                        "--json", str(tmp_path / "out.json")], capture_output=True, env=env)
    out, err = r.stdout.decode("utf-8"), r.stderr.decode("utf-8", "replace")
    assert r.returncode == 0, err
    assert "\\xff\\xfe.jpg\t" in out and "Traceback" not in err, (out, err)
    assert (tmp_path / "out.json").read_text(encoding="ascii")
