"""Atomic file writes: write to a temporary file in the same folder, then rename.

A run that is killed half-way therefore never leaves a truncated checkpoint, cache or result
behind; the previous complete file stays in place until the new one is whole.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import json
import math
import os
import stat
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

from edge_age.errors import EdgeAgeError


STDOUT = "-"  # an output path that means standard output (`--json -`), as most command-line tools read it


def is_stdout(path: str | Path | None) -> bool:
    """Whether an output path names standard output: ``-`` (given as a string or a Path)."""
    return path is not None and str(path) == STDOUT


def check_target(path: Path) -> None:
    """Only a regular file (or nothing) may be replaced: os.replace would swap a symlink, or a device
    such as /dev/stdout, for a regular file. ``-`` (standard output, see :func:`write_text`) always may."""
    if is_stdout(path):
        return
    if path.is_symlink():
        raise EdgeAgeError("is a symlink; refusing to replace it (name a regular file)", path)
    if path.exists() and not path.is_file():
        kind = "a folder" if path.is_dir() else "not a regular file (device, pipe or socket)"
        raise EdgeAgeError(f"is {kind}; refusing to replace it (name a regular file)", path)
    if path.parent.exists() and not path.parent.is_dir():
        raise EdgeAgeError(f"cannot write here: {path.parent} is a file, not a folder", path)


@dataclass(frozen=True)
class Output:
    """What one output option of a command names: a file (``--json``) or a folder the command writes into
    (``--out``, ``--annotate``). ``writes``: suffixes of files the command reads that this option writes too
    (``--plot``'s ``.png``)."""

    option: str
    path: str | Path | None  # None: not asked for
    folder: bool = False
    writes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Read:
    """What a command reads: a file (an input, the model file, its card), or a folder. ``whole``: every file in
    the folder is read (a dataset folder, bench's model folders), so nothing may be written inside it; off for
    a folder the command reads only named files from (a CSV dataset's images), which no output folder may be."""

    path: str | Path
    whole: bool = True


def check_outputs(outputs: Iterable[Output], reads: Iterable[Read], kinds: Mapping[str, str] | None = None) -> None:
    """The one check every command's outputs pass before any work: an output may never be a file the command
    reads (an input, a model file, its card), nor lie inside a folder it reads; and an output file may not
    carry the suffix of a kind of file the command reads (``kinds``: ``{".jpg": "an image", ...}``), which is
    how ``predict --json *.jpg`` hands the first image to ``--json``. A one-line error names the option and
    the file; nothing has been written."""
    seen = [_Where(Path(r.path), r.whole) for r in reads]  # each read stat'ed once (predict may read thousands)
    for out in outputs:
        if out.path is None or is_stdout(out.path):
            continue
        path = Path(out.path)
        where = _Where(path, True)
        for src in seen:
            _refuse_overlap(out, where, src)
        kind = next((k for s, k in (kinds or {}).items() if path.name.lower().endswith(s) and s not in out.writes),
                    None)
        if kind and not out.folder:
            raise EdgeAgeError(f"{out.option} names {kind} file, a kind of file edge-age reads, not what "
                               f"{out.option} writes; refusing to write over it (did the shell put a file list "
                               f"where the value of {out.option} goes?)", path)


class _Where:
    """A path as the overlap check compares it: links resolved, its inode (hard links), whether a folder."""

    def __init__(self, path: Path, whole: bool) -> None:
        self.path, self.whole = path, whole
        try:
            self.real = os.path.realpath(path)
        except (OSError, ValueError):  # a name the OS refuses (a NUL byte): compare it as written
            self.real = os.path.abspath(path)
        try:
            st = os.stat(path)
            self.inode, self.is_dir = (st.st_dev, st.st_ino), stat.S_ISDIR(st.st_mode)
        except (OSError, ValueError):
            self.inode, self.is_dir = None, False

    def same(self, other: "_Where") -> bool:
        return self.real == other.real or (self.inode is not None and self.inode == other.inode)

    def within(self, folder: "_Where") -> bool:
        return self.same(folder) or self.real.startswith(folder.real.rstrip(os.sep) + os.sep)


def _refuse_overlap(out: Output, path: _Where, src: _Where) -> None:
    if src.is_dir and src.whole and path.within(src):
        raise EdgeAgeError(f"{out.option} is inside {src.path}, a folder this command reads; write outside it",
                           path.path)
    if src.is_dir and not src.whole and out.folder and path.same(src):
        raise EdgeAgeError(f"{out.option} is {src.path}, the folder this command reads its images from; "
                           "write elsewhere", path.path)
    if not src.is_dir and path.same(src):
        also = "" if str(path.path) == str(src.path) else f" ({src.path})"
        raise EdgeAgeError(f"{out.option} names a file this command reads{also}: an input, the model or its card; "
                           f"refusing to write over it (name another {'folder' if out.folder else 'file'})", path.path)


def check_file_name(name: str | None, option: str) -> None:
    """A name that becomes part of a file name (``export --name``) is a file name, not a path: no path separator,
    no ``..``, not empty (``--name ../../x`` would write outside ``--out``)."""
    if name is None:
        return
    seps = {"/", "\\", os.sep} | ({os.altsep} if os.altsep else set())
    if not name.strip() or ".." in name or any(s in name for s in seps) or "\0" in name:
        raise EdgeAgeError(f"{option} {name!r} is not a file name: a name has no path separator or '..' and is not "
                           "empty (choose the folder with --out)")


def _clean_stale_temps(path: Path) -> None:
    """Temp files of this target left by killed processes (their pid is in the name)."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it over ``path``.

    Failures to write (read-only folder, full disk) become one-line errors naming ``path``.
    """
    path = Path(path)
    check_target(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _clean_stale_temps(path)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise EdgeAgeError(f"cannot write: {e.strerror or e}", path) from e
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp_path, path)
    except OSError as e:
        raise EdgeAgeError(f"cannot write: {e.strerror or e}", path) from e
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


# What a write says when the disk has no room left for it: no space, or the user's quota spent.
DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def disk_full_cause(e: BaseException) -> OSError | None:
    """The full-disk OSError behind ``e``: ``e`` itself, or what it was raised from (:func:`atomic_path`'s
    one-line error keeps the OSError as its cause); None for any other failure."""
    seen: set[int] = set()
    cause: BaseException | None = e
    while cause is not None and id(cause) not in seen:
        if isinstance(cause, OSError) and cause.errno in DISK_FULL:
            return cause
        seen.add(id(cause))
        cause = cause.__cause__
    return None


def no_space_left(folder: str | Path, margin: int = 1 << 20) -> bool:
    """Whether the filesystem holding ``folder`` has less than ``margin`` bytes left for us: how a write that
    a native library failed without saying so (it went on with a truncated file) is told from other failures."""
    try:
        st = os.statvfs(folder)
    except (OSError, AttributeError):  # gone, or no statvfs (Windows): no evidence of a full disk
        return False
    return st.f_bavail * st.f_frsize < margin


@contextlib.contextmanager
def when_disk_full(folder: str | Path, what: str) -> Iterator[None]:
    """A write inside that finds the disk full ends in one line naming ``folder``, the place to free space,
    whichever writer hit it: a converter's raw OSError or :func:`atomic_path`'s error naming a temporary
    file. Wrap only atomic writes (:func:`atomic_path`, :func:`staged_folder`): the line says that what
    was there before is unchanged. ``what``: what was being written (``best.pt``, ``the export``)."""
    try:
        yield
    except (OSError, EdgeAgeError) as e:
        full = disk_full_cause(e)
        if full is None:
            raise
        raise EdgeAgeError(f"disk full ({full.strerror or os.strerror(full.errno)}) while writing {what}; what was "
                           "there before is unchanged: free some space and run again", folder) from e


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks (model files and checkpoints run to 100 MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically; ``-`` writes it to standard output instead (so ``--json -``,
    ``--md -`` and ``--csv -`` pipe into another program rather than creating a file named ``-``)."""
    if is_stdout(path):
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    write_bytes(path, text.encode("utf-8"))


def finite_json(obj: Any) -> Any:
    """``obj`` with every non-finite number (NaN, +-infinity) replaced by None, JSON's null, and numpy scalars
    as Python numbers. Every JSON edge-age writes is strict JSON -- Python's json would write the bare tokens
    ``NaN`` and ``Infinity``, which strict parsers (JavaScript's ``JSON.parse``, Go's, jq's) refuse -- so a
    number that is not a number reads as "no value". Numbers a reader computes with (a card's intervals and
    golden ages, an age) are checked where they are made and read; null there is refused by name."""
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_json(v) for v in obj]
    if hasattr(obj, "dtype") and hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:
        obj = obj.item()  # a numpy scalar (np.float32 is no float: json would have written its str)
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def tsv_field(text: str) -> str:
    """``text`` as one field of a tab-separated line: backslash, tab, newline and carriage return escaped
    (``\\``, ``\t``, ``\n``, ``\r``), so a file name holding them cannot split or add a line. A name that
    is not UTF-8 (lone surrogates) shows its bytes as ``\xff``, so printing it never fails."""
    text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a surrogate no file name byte makes: its code point, escaped
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def json_text(obj: Any, indent: int | None = 2) -> str:
    """``obj`` as strict JSON text (:func:`finite_json`; ``allow_nan=False`` makes any slip an error, never
    a bare NaN). Everything edge-age writes as JSON goes through here: files, JSON lines, ONNX metadata."""
    return json.dumps(finite_json(obj), indent=indent, sort_keys=False, default=str, allow_nan=False)


def write_json(path: str | Path, obj: Any) -> None:
    """``obj`` as indented strict JSON (:func:`json_text`) into ``path``, or onto standard output for ``-``."""
    write_text(path, json_text(obj) + "\n")


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


def swap_in_folder(staging: Path, out: Path, replaceable: set[str], index: str | None = None) -> None:
    """Make ``staging`` the content of ``out`` so that a reader (or a kill) sees the old set or the new.

    ``replaceable``: the names the output owns; ``index``: the one of them that describes the set (the model
    card, ``labels.csv``; default: the ``.json`` files). When ``out`` holds nothing else the folders are
    swapped by two renames; otherwise (an --out shared with other files) the old index is removed first and
    the files are moved in one by one, the new index last: a kill midway leaves no index that describes a
    mixed set.
    """
    import shutil

    def is_index(p: Path) -> bool:
        return p.name == index if index else p.suffix == ".json"

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
    new = sorted(staging.iterdir(), key=is_index)  # the index last
    for p in out.iterdir():
        if p.name in replaceable and is_index(p):
            p.unlink()  # no index describes a mixed set while files move
    for p in new:
        os.replace(p, out / p.name)
    names = {p.name for p in new}
    for p in out.iterdir():
        if p.name in replaceable and p.name not in names:
            p.unlink()  # a file of the old set that the new one does not have
    shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def staged_folder(out: str | Path, replaceable: set[str], index: str | None = None) -> Iterator[Path]:
    """An output that is a set of files plus an index (an export and its card, ``data wild``'s scenes and
    ``labels.csv``), replaced as a whole: the caller writes into the yielded staging folder beside ``out``
    (:func:`staging_folder`); on success it is swapped in (:func:`swap_in_folder`), on any failure or
    interrupt it is removed and ``out`` keeps its previous complete set."""
    import shutil

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise EdgeAgeError("exists and is not a folder", out)  # before any work, not after it
    staging = staging_folder(out)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    swap_in_folder(staging, out, replaceable, index)


@contextlib.contextmanager
def folder_lock(folder: str | Path) -> Iterator[None]:
    """Own ``folder`` for the duration: a second writer gets a one-line error naming the holder.

    The lock file holds the holder's pid and host; a lock whose process is gone (same host) is taken
    over, so a killed run never blocks its own ``--resume``.
    """
    import socket

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / ".lock"
    me = {"pid": os.getpid(), "host": socket.gethostname()}
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if _stale(lock, me["host"]):
                lock.unlink(missing_ok=True)
                continue
            holder = _read_lock(lock)
            raise EdgeAgeError(f"is in use by another edge-age run (pid {holder.get('pid', '?')} on "
                               f"{holder.get('host', '?')}); wait for it or choose another --out (remove {lock} "
                               f"only if that process is gone)", folder) from None
        with os.fdopen(fd, "w") as f:
            json.dump(me, f)
        break
    else:
        raise EdgeAgeError(f"could not take the lock {lock}", folder)
    try:
        yield
    finally:
        if _read_lock(lock) == me:
            lock.unlink(missing_ok=True)


def _read_lock(lock: Path) -> dict[str, Any]:
    try:
        data = json.loads(lock.read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _stale(lock: Path, host: str) -> bool:
    import time

    holder = _read_lock(lock)
    if not holder:  # killed between creating and writing it
        try:
            return time.time() - lock.stat().st_mtime > 60
        except OSError:
            return True
    pid = holder.get("pid")
    return holder.get("host") == host and isinstance(pid, int) and not _alive(pid)
