"""Atomic file writes: write to a temporary file in the same folder, then rename.

A run that is killed half-way therefore never leaves a truncated checkpoint, cache or result
behind; the previous complete file stays in place until the new one is whole.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

from edge_age.errors import EdgeAgeError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def write_csv(path: str | Path, rows: list[dict[str, Any]]) -> None:
    """Write a list of dicts as CSV; the columns are every key in first-seen order.

    Rows may differ: a run resumed with a newer edge-age adds columns (``images`` did), and its
    older rows leave those cells empty rather than failing the epoch's write.
    """
    import csv
    import io

    buf = io.StringIO()
    if rows:
        fields = list(dict.fromkeys(k for row in rows for k in row))
        writer = csv.DictWriter(buf, fieldnames=fields, restval="")
        writer.writeheader()
        writer.writerows(rows)
    write_text(path, buf.getvalue())


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def staging_folder(out: str | Path) -> Path:
    """A fresh hidden folder beside ``out`` for a multi-file output, after recovering from a killed run:
    a half-done swap is finished (or rolled back) and staging folders of dead processes are removed."""
    import shutil

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    old = out.with_name(f".{out.name}.old")
    if old.is_dir():
        if out.exists():
            shutil.rmtree(old)  # the swap had completed
        else:
            old.rename(out)  # killed between the two renames: the old complete set comes back
    for stale in out.parent.glob(f".{out.name}.staging-*"):
        pid = stale.name.rsplit("-", 1)[-1]
        if stale.is_dir() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    staging = out.with_name(f".{out.name}.staging-{os.getpid()}")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    return staging


def swap_in_folder(staging: Path, out: Path, replaceable: set[str]) -> None:
    """Make ``staging`` the content of ``out`` so that a reader (or a kill) sees the old set or the new.

    ``replaceable``: the names the output owns. When ``out`` holds nothing else the folders are swapped
    by two renames; otherwise (an --out shared with other files) the files are moved in one by one,
    the card (the first file of ``staging`` that is not a model, moved last) deciding what is valid.
    """
    import shutil

    if not out.exists():
        staging.rename(out)
        return
    if not out.is_dir():
        raise EdgeAgeError("exists and is not a folder", out)
    if all(p.name in replaceable for p in out.iterdir()):
        old = out.with_name(f".{out.name}.old")
        out.rename(old)
        staging.rename(out)
        shutil.rmtree(old)
        return
    new = sorted(staging.iterdir(), key=lambda p: p.suffix == ".json")  # card last
    for p in out.iterdir():
        if p.name in replaceable and p.suffix == ".json":
            p.unlink()  # no card describes a mixed set while files move
    for p in new:
        os.replace(p, out / p.name)
    names = {p.name for p in new}
    for p in out.iterdir():
        if p.name in replaceable and p.name not in names:
            p.unlink()  # a file of the old set that the new one does not have
    shutil.rmtree(staging, ignore_errors=True)
