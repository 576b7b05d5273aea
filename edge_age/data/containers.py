"""Uniform read access to a folder, a .tar/.tar.gz archive or a .zip archive.

Archives are read in place (never unpacked to disk). Tar members are read in one sequential pass,
because seeking backwards in a gzip stream means decompressing from the start again.
"""

from __future__ import annotations

import os
import posixpath
import tarfile
import zipfile
from pathlib import Path
from typing import Iterable, Iterator

from edge_age.errors import EdgeAgeError

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip")


def _safe_member(name: str, archive: Path) -> str | None:
    """Normalise an archive member name; refuse absolute and parent-escaping paths."""
    norm = posixpath.normpath(name.replace("\\", "/"))
    if norm.startswith("/") or norm == ".." or norm.startswith("../"):
        raise EdgeAgeError(f"archive member {name!r} points outside the archive (path traversal); refusing it", archive)
    return None if norm == "." else norm


def _refuse_repeats(names: list[str], container: "Container") -> list[str]:
    """The member names that occur once; a name that occurs more than once (after normalisation) is refused
    in every copy, as a named problem in ``container.skipped``: which copy is "the" file is not ours to guess."""
    counts: dict[str, int] = {}
    for n in names:
        counts[n] = counts.get(n, 0) + 1
    for n, k in counts.items():
        if k > 1:
            container.skipped.append((container.display(n), f"member name occurs {k} times in the archive; "
                                                            "every copy refused"))
    return [n for n in names if counts[n] == 1]


# An image -- an archive member or a file of a folder or on predict's command line -- over this many bytes (64 MiB;
# a 64-megapixel JPEG at top quality is about half that) is refused before it is read (by its declared or stat size)
# and while it is read (by the bytes that actually come out): a zip or tar bomb, or an 8 GB "photo", costs at most
# this much memory.
MAX_MEMBER_BYTES = 64 * 1024 * 1024


def _bounded_read(f, declared: int, where: str, what: str = "archive member") -> bytes:
    if declared > MAX_MEMBER_BYTES:
        raise EdgeAgeError(f"{what} of {declared:,} bytes is over the {MAX_MEMBER_BYTES:,}-byte limit", where)
    data = f.read(MAX_MEMBER_BYTES + 1)
    if len(data) > MAX_MEMBER_BYTES:
        raise EdgeAgeError(f"{what} grows past the {MAX_MEMBER_BYTES:,}-byte limit", where)
    return data


def read_image_file(path: str | Path) -> bytes:
    """An image file's bytes; over MAX_MEMBER_BYTES it is refused by its size before anything is read, in one
    line naming it (the header and the pixel cap are checked on the bytes, by ``preprocess.decode_image``)."""
    try:
        with open(path, "rb") as f:
            return _bounded_read(f, os.fstat(f.fileno()).st_size, str(path), "file")
    except OSError as e:
        raise EdgeAgeError(f"cannot read file: {e.strerror or e}", path) from None


class Container:
    """A set of named files: ``names()`` lists them, ``read_many()`` yields their bytes; ``skipped`` names the
    members that are not regular files (links, devices), so they are counted rather than silently dropped."""

    path: Path
    skipped: list[tuple[str, str]] = []  # (where, why); instances that skip anything own their list

    def names(self) -> list[str]:
        raise NotImplementedError

    def read_many(self, names: Iterable[str]) -> Iterator[tuple[str, bytes | Exception]]:
        """Yield ``(name, bytes)`` for each wanted name (order may differ); an exception per unreadable file."""
        raise NotImplementedError

    def read(self, name: str) -> bytes:
        for _, data in self.read_many([name]):
            if isinstance(data, Exception):
                raise data
            return data
        raise EdgeAgeError(f"no file {name!r} in {self.path}")

    def display(self, name: str) -> str:
        """How a member is named in messages: a real path for folders, ``archive:member`` otherwise."""
        return f"{self.path}:{name}"

    def fingerprint(self) -> dict[str, object]:
        st = self.path.stat()
        return {"path": str(self.path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


class DirContainer(Container):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._names: list[str] | None = None

    def names(self) -> list[str]:
        if self._names is None:
            out: list[str] = []
            root = str(self.path)
            # followlinks=False: a symlink loop cannot send us round forever.
            for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
                dirnames.sort()
                for fn in sorted(filenames):
                    full = os.path.join(dirpath, fn)
                    if os.path.isfile(full):
                        out.append(os.path.relpath(full, root).replace(os.sep, "/"))
            self._names = out
        return self._names

    def read_many(self, names: Iterable[str]) -> Iterator[tuple[str, bytes | Exception]]:
        for name in names:
            try:
                yield name, read_image_file(self.path / name)
            except EdgeAgeError as e:
                yield name, e

    def display(self, name: str) -> str:
        return str(self.path / name)

    def fingerprint(self) -> dict[str, object]:
        # A folder has no single mtime: hash every file's size and mtime so edits invalidate caches.
        import hashlib

        h = hashlib.sha256()
        for name in self.names():
            try:
                st = (self.path / name).stat()
            except OSError:
                continue
            h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        return {"path": str(self.path.resolve()), "files": h.hexdigest()}


    def escapes(self, name: str, folder: str = "") -> bool:
        """Whether ``name`` resolves (symlinks followed) outside ``folder`` of this one (the whole folder for "")."""
        root = os.path.realpath(self.path / folder)
        return os.path.commonpath([root, os.path.realpath(self.path / name)]) != root


class NamedFilesContainer(DirContainer):
    """A folder read only through the files a label file names: nothing else in it or under it is listed or
    stat'd (a CSV in a home folder must not walk all of home). ``admit`` adds a named file; ``names()`` is the
    label file and the files admitted, so ``fingerprint`` covers exactly what is read."""

    def __init__(self, path: Path, label_file: str) -> None:
        super().__init__(path)
        self._names = [label_file]

    def admit(self, name: str) -> str | None:
        """Add ``name`` to the files read; why it cannot be (outside the folder, not a regular file), or None."""
        if self.escapes(name):
            return "resolves outside the CSV's folder (through a symlink)"
        if not os.path.isfile(self.path / name):
            return "not found"
        if name not in self._names:
            self._names.append(name)
        return None


class TarContainer(Container):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._names: list[str] | None = None
        self.skipped = []

    def _open(self) -> tarfile.TarFile:
        try:
            return tarfile.open(self.path, "r:*")
        except (tarfile.TarError, OSError, EOFError) as e:
            raise EdgeAgeError(f"not a readable tar archive ({e})", self.path) from e

    def names(self) -> list[str]:
        if self._names is None:
            out = []
            with self._open() as tf:
                try:
                    for m in tf:
                        if m.isfile():
                            name = _safe_member(m.name, self.path)
                            if name:
                                out.append(name)
                        elif not m.isdir():
                            kind = "symlink" if m.issym() else "hard link" if m.islnk() else "device or fifo"
                            self.skipped.append((self.display(m.name), f"{kind}, not a regular file"))
                except (tarfile.TarError, EOFError, OSError) as e:
                    raise EdgeAgeError(f"archive is corrupt or truncated ({e})", self.path) from e
            self._names = _refuse_repeats(out, self)
        return self._names

    def read_many(self, names: Iterable[str]) -> Iterator[tuple[str, bytes | Exception]]:
        wanted, listed = set(names), set(self.names())
        for name in sorted(wanted - listed):  # a repeated member name is refused in every copy, as names() says
            yield name, EdgeAgeError("missing from archive, or its name occurs more than once", self.display(name))
        wanted &= listed
        if not wanted:
            return
        with self._open() as tf:
            try:
                for m in tf:
                    if not m.isfile():
                        continue
                    name = _safe_member(m.name, self.path)
                    if name in wanted:
                        f = tf.extractfile(m)
                        try:
                            data: bytes | Exception = (_bounded_read(f, m.size, self.display(name)) if f
                                                       else EdgeAgeError("unreadable member", self.display(name)))
                        except EdgeAgeError as e:
                            data = e
                        yield name, data
                        wanted.discard(name)
                        if not wanted:
                            return
            except (tarfile.TarError, EOFError, OSError) as e:
                raise EdgeAgeError(f"archive is corrupt or truncated ({e})", self.path) from e
        for name in sorted(wanted):
            yield name, EdgeAgeError("missing from archive", self.display(name))


class ZipContainer(Container):
    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as e:
            raise EdgeAgeError(f"not a readable zip archive ({e})", path) from e
        self._infos = {info.filename: info for info in self._zf.infolist()}
        self.skipped = []
        members = [(name, info.filename) for info in self._zf.infolist()
                   if not info.is_dir() and (name := _safe_member(info.filename, path))]
        once = set(_refuse_repeats([name for name, _ in members], self))  # a repeated name: every copy refused
        self._map: dict[str, str] = {name: filename for name, filename in members if name in once}

    def names(self) -> list[str]:
        return sorted(self._map)

    def read_many(self, names: Iterable[str]) -> Iterator[tuple[str, bytes | Exception]]:
        for name in names:
            try:
                info = self._infos[self._map[name]]
                with self._zf.open(info) as f:
                    yield name, _bounded_read(f, info.file_size, self.display(name))
            except KeyError:
                yield name, EdgeAgeError("missing from archive", self.display(name))
            except EdgeAgeError as e:
                yield name, e
            except NotImplementedError as e:  # zipfile: PPMd and other unsupported compression methods
                yield name, EdgeAgeError(f"unsupported compression ({e})", self.display(name))
            except RuntimeError as e:  # zipfile: encrypted member, password required
                yield name, EdgeAgeError(f"encrypted archive member ({e})", self.display(name))
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
                yield name, EdgeAgeError(f"corrupt archive member ({e})", self.display(name))


def open_container(path: str | Path) -> Container:
    """Open ``path`` (folder or archive) for reading; a clear error if it is neither."""
    p = Path(path)
    if not p.exists():
        raise EdgeAgeError("no such file or folder", p)
    if p.is_dir():
        return DirContainer(p)
    name = p.name.lower()
    if name.endswith(".zip"):
        return ZipContainer(p)
    if name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        return TarContainer(p)
    raise EdgeAgeError("expected a folder, a .tar/.tar.gz/.zip archive or a .csv file", p)
