"""Labeled face sources, auto-detected from one ``--data PATH``.

Three labelling schemes are understood, in a folder or inside an archive:

* ``utkface``  -- the age is the first field of the file name, ``age_gender_race_date.jpg.chip.jpg``
  (three real UTKFace files lack the race field; their age still parses);
* ``folders``  -- folder-per-age trees, ``27/xyz.jpg``;
* ``csv``      -- a CSV with a path column (``file_name``/``path``/``image``) and an age column
  (``age``/``real_age``), paths relative to the CSV.

Items with bad labels are not fatal: they become :class:`Problem` rows that every command reports
and counts, so a messy folder is usable and nothing is dropped silently.
"""

from __future__ import annotations

import csv
import io
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge_age.data.containers import Container, DirContainer, NamedFilesContainer, open_container
from edge_age.errors import EdgeAgeError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SCHEMES = ("auto", "utkface", "folders", "csv")
MAX_AGE = 120.0
CSV_PATH_COLUMNS = ("file_name", "path", "image", "filename", "file")
CSV_AGE_COLUMNS = ("age", "real_age")
# Optional CSV columns naming a face's group, read for eval's fairness report (values kept as written, lower-cased).
CSV_GROUP_COLUMNS = {"gender": ("gender", "sex"), "ethnicity": ("ethnicity", "race")}

_UTK_DETECT = re.compile(r"^\d+_\d+_\d+")
_UTK_AGE = re.compile(r"^([^_]*)_")


@dataclass(frozen=True)
class Sample:
    """One labeled image: its name inside the container (the stable key) and its age in years."""

    name: str
    age: float


@dataclass(frozen=True)
class Problem:
    """An item that was skipped, and why; ``where`` names the file (and row, for CSV)."""

    where: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class LabeledSet:
    container: Container
    scheme: str
    samples: list[Sample]
    problems: list[Problem] = field(default_factory=list)
    # Optional group attributes per sample name (CSV columns such as gender, ethnicity), for fairness reports.
    groups: dict[str, dict[str, str]] = field(default_factory=dict)

    def display(self, name: str) -> str:
        return self.container.display(name)


def is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def parse_age(text: str) -> float:
    """Parse an age label; raise ValueError with the reason for anything that is not 0-120 years."""
    text = text.strip()
    if not text:
        raise ValueError("age is missing")
    try:
        age = float(text)
    except ValueError:
        raise ValueError(f"age {text!r} is not a number") from None
    if age != age or age in (float("inf"), float("-inf")):
        raise ValueError(f"age {text!r} is not a number")
    if age < 0:
        raise ValueError(f"age {text!r} is negative")
    if age > MAX_AGE:
        raise ValueError(f"age {text!r} is above {MAX_AGE:g}")
    return age


def parse_utkface_name(name: str) -> float:
    """Age from a UTKFace file name (``age_gender_race_date.jpg.chip.jpg``)."""
    base = posixpath.basename(name)
    m = _UTK_AGE.match(base)
    if not m:
        raise ValueError("file name does not start with 'age_' (UTKFace naming)")
    return parse_age(m.group(1))


def parse_folder_age(name: str) -> float:
    parent = posixpath.basename(posixpath.dirname(name))
    if not parent:
        raise ValueError("image is not inside a folder named by its age")
    return parse_age(parent)


def detect_scheme(names: list[str]) -> str:
    """Pick the labelling scheme that explains most image names."""
    if any(n.lower().endswith(".csv") for n in names):
        return "csv"
    images = [n for n in names if is_image(n)]
    utk = sum(1 for n in images if _UTK_DETECT.match(posixpath.basename(n)))
    folders = sum(1 for n in images if posixpath.basename(posixpath.dirname(n)).isdigit())
    if utk == 0 and folders == 0:
        return ""
    return "utkface" if utk >= folders else "folders"


def load_labeled(path: str | Path, scheme: str = "auto") -> LabeledSet:
    """List the labeled images under ``path`` (folder, archive or CSV file)."""
    p = Path(path)
    if scheme not in SCHEMES:
        raise EdgeAgeError(f"unknown label scheme {scheme!r}; choose from {', '.join(SCHEMES)}")
    if p.is_file() and p.name.lower().endswith(".csv"):
        container: Container = NamedFilesContainer(p.parent, p.name)  # reads only the files the CSV names
        return _from_csv(container, p.name, p.read_bytes())
    container = open_container(p)
    names = container.names()
    if not names:
        raise EdgeAgeError("no files found (empty folder or archive)", p)
    if scheme == "auto":
        scheme = detect_scheme(names)
        if not scheme:
            raise EdgeAgeError(
                "no labeled images found: expected UTKFace names (27_0_1_2017.jpg), "
                "folder-per-age trees (27/x.jpg) or a CSV label file",
                p,
            )
    if scheme == "csv":
        csvs = [n for n in names if n.lower().endswith(".csv")]
        if len(csvs) != 1:
            raise EdgeAgeError(
                f"expected exactly one CSV label file, found {len(csvs)} ({', '.join(csvs[:5])}); "
                "pass the CSV file itself as --data",
                p,
            )
        return _from_csv(container, csvs[0], container.read(csvs[0]))
    parse = parse_utkface_name if scheme == "utkface" else parse_folder_age
    samples, problems = [], []
    for n in names:
        if not is_image(n):
            continue
        try:
            samples.append(Sample(n, parse(n)))
        except ValueError as e:
            problems.append(Problem(container.display(n), str(e)))
    if not samples:
        raise EdgeAgeError(f"no image with a valid {scheme} label ({len(problems)} skipped)", p)
    problems += [Problem(where, why) for where, why in container.skipped]
    return LabeledSet(container, scheme, samples, problems)


def _csv_rows(reader, where: str, problems: list[Problem]):
    """(line number, row) of each readable row; a row the csv module refuses (e.g. a field over its
    128 KiB limit) is a problem of that row, and the rows after it are still read."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            problems.append(Problem(f"{where}:{reader.line_num}", f"unreadable CSV row ({e})"))
            continue
        yield reader.line_num, row


def _csv_header(text: str, where: str) -> tuple[Any, list[str], int, int]:
    """The reader past the header, the lower-cased column names, and the path and age columns."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
    except csv.Error as e:
        raise EdgeAgeError(f"CSV header is not readable ({e})", where) from None
    if not header:
        raise EdgeAgeError("CSV is empty", where)
    cols = [h.strip().lower() for h in header]
    path_col = next((cols.index(c) for c in CSV_PATH_COLUMNS if c in cols), None)
    age_col = next((cols.index(c) for c in CSV_AGE_COLUMNS if c in cols), None)
    if path_col is None or age_col is None:
        raise EdgeAgeError(
            f"CSV header {header} lacks a path column ({'/'.join(CSV_PATH_COLUMNS)}) "
            f"or an age column ({'/'.join(CSV_AGE_COLUMNS)})",
            where,
        )
    return reader, cols, path_col, age_col


def _csv_path_problem(container: Container, available: set[str] | None, name: str, base: str,
                      seen: set[str]) -> str | None:
    """Why a CSV row's normalised path ``name`` cannot be used ({rel} stands for the path as written), or None.
    Only the named file is looked at; one that resolves outside the CSV's folder (``..``, an absolute path,
    a symlink) is refused."""
    if name.startswith("../") or name.startswith("/") or name == "..":
        return "path {rel} points outside the CSV's folder"
    if name in seen:
        return "image {rel} listed twice"
    if available is None:  # a CSV given as --data: admit the one file it names
        why = container.admit(name)  # type: ignore[attr-defined]
        return None if why is None else f"image {{rel}} {why}"
    if name not in available:
        return "image {rel} not found"
    if isinstance(container, DirContainer) and container.escapes(name, base):
        return "image {rel} resolves outside the CSV's folder (through a symlink)"
    return None


def _from_csv(container: Container, csv_name: str, data: bytes) -> LabeledSet:
    where = container.display(csv_name)
    try:
        text = data.decode("utf-8-sig")  # tolerate a byte-order mark
    except UnicodeDecodeError:
        raise EdgeAgeError("CSV is not UTF-8 text", where) from None
    reader, cols, path_col, age_col = _csv_header(text, where)
    base = posixpath.dirname(csv_name)
    available = None if isinstance(container, NamedFilesContainer) else set(container.names())
    group_cols = {attr: next(cols.index(c) for c in names if c in cols)
                  for attr, names in CSV_GROUP_COLUMNS.items() if any(c in cols for c in names)}
    samples, problems, seen, groups = [], [], set(), {}
    for row_no, row in _csv_rows(reader, where, problems):
        if not row or all(not c.strip() for c in row):
            continue
        loc = f"{where}:{row_no}"
        if len(row) <= max(path_col, age_col):
            problems.append(Problem(loc, f"row has {len(row)} fields, expected {len(cols)}"))
            continue
        rel = row[path_col].strip()
        name = posixpath.normpath(posixpath.join(base, rel.replace("\\", "/")))
        why = _csv_path_problem(container, available, name, base, seen)
        if why:
            problems.append(Problem(loc, why.format(rel=repr(rel))))
            continue
        try:
            samples.append(Sample(name, parse_age(row[age_col])))
            seen.add(name)
            attrs = {a: row[c].strip().lower() for a, c in group_cols.items() if c < len(row) and row[c].strip()}
            if attrs:
                groups[name] = attrs
        except ValueError as e:
            problems.append(Problem(loc, str(e)))
    if not samples:
        raise EdgeAgeError(f"no row with an existing image and a valid age ({len(problems)} skipped)", where)
    problems += [Problem(w, why) for w, why in container.skipped]
    return LabeledSet(container, "csv", samples, problems, groups)
