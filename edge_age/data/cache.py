"""Decode, crop and resize every face once; keep the uint8 crops in a memory-mappable .npy.

Epochs then read ready ``128x128x3`` uint8 arrays instead of decoding JPEGs again. The cache file is
keyed by a hash of the source (path, size, mtime), the selected samples and the pixel-affecting
preprocessing settings, so any change builds a new one and a stale one is never used. Files are
written atomically: an interrupted build leaves no half cache behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from edge_age import fileio
from edge_age.data.faces import PATH_VERSION, DetectConfig, detect_faces
from edge_age.data.preprocess import PreprocessSpec, crop_face, decode_image, prepare_face
from edge_age.data.sources import LabeledSet, Problem, Sample
from edge_age.errors import EdgeAgeError

CACHE_VERSION = 1


def default_cache_dir() -> Path:
    return Path(os.environ.get("EDGE_AGE_CACHE", Path.home() / ".cache" / "edge-age"))


@dataclass
class FaceArray:
    """Prepared faces for a list of samples; rows align across every field."""

    names: list[str]
    ages: np.ndarray  # float32, years
    faces: np.ndarray  # uint8, N x S x S x 3, spec colour order
    sha1: list[str]  # of the encoded file, for exact-duplicate detection
    n_faces: list[int]  # faces found per image (1 unless --detect-faces)
    problems: list[Problem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class _Item:
    name: str
    face: np.ndarray | None
    sha1: str
    n_faces: int
    problem: Problem | None


def _process(name: str, data: bytes | Exception, display: str, spec: PreprocessSpec, detect: bool) -> _Item:
    if isinstance(data, Exception):
        return _Item(name, None, "", 0, Problem(display, getattr(data, "reason", str(data))))
    sha = hashlib.sha1(data).hexdigest()
    try:
        img = decode_image(data, display)
        n = 1
        if detect:
            boxes = detect_faces(img, DetectConfig.for_framing(spec.framing))
            n = len(boxes)
            if not boxes:
                return _Item(name, None, sha, 0, Problem(display, "no face found"))
            img, _ = crop_face(img, boxes[0], spec)
        return _Item(name, prepare_face(img, spec), sha, n, None)
    except EdgeAgeError as e:
        return _Item(name, None, sha, 0, Problem(display, e.reason))
    except Exception as e:  # OpenCV raises cv2.error on some malformed inputs
        return _Item(name, None, sha, 0, Problem(display, f"cannot process image ({type(e).__name__}: {e})"))


def _cache_key(ls: LabeledSet, samples: Sequence[Sample], spec: PreprocessSpec, detect: bool) -> str:
    h = hashlib.sha256()
    meta = {
        "v": CACHE_VERSION,
        "source": ls.container.fingerprint(),
        "scheme": ls.scheme,
        "spec": spec.cache_key(),
        "detect": detect,
        # The detected crop's geometry (the key keeps its old name so that caches of chips stay valid).
        "margin": spec.framing.to_dict() if detect else None,
    }
    if detect:
        meta["path"] = PATH_VERSION  # what the detector and the crop compute (absent for chips: their keys stay)
    h.update(json.dumps(meta, sort_keys=True).encode())
    for s in samples:
        h.update(f"{s.name}\0{s.age}\n".encode())
    return h.hexdigest()[:24]


def iter_prepared(
    ls: LabeledSet, samples: Sequence[Sample], spec: PreprocessSpec, detect: bool, workers: int | None = None
) -> Iterator[_Item]:
    """Decode and prepare ``samples`` in parallel threads (OpenCV releases the GIL)."""
    workers = workers or os.cpu_count() or 1
    stream = ls.container.read_many(s.name for s in samples)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        while True:
            chunk = [x for _, x in zip(range(256), stream)]
            if not chunk:
                break
            futures = [pool.submit(_process, n, d, ls.display(n), spec, detect) for n, d in chunk]
            for f in futures:
                yield f.result()


def build_faces(
    ls: LabeledSet,
    samples: Sequence[Sample],
    spec: PreprocessSpec,
    detect: bool = False,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> FaceArray:
    """Prepared faces for ``samples``, from the cache when it matches, else built (and cached)."""
    key = _cache_key(ls, samples, spec, detect)
    cached = _read_cache(cache_dir, key) if cache_dir is not None else None
    if cached is not None:
        return cached
    out = _prepare_all(ls, samples, spec, detect, progress)
    if cache_dir is not None:
        _try_write_cache(cache_dir, key, out)
    return out


def _note(text: str) -> None:
    print(f"edge-age: note: {text}", file=sys.stderr, flush=True)


def _try_write_cache(cache_dir: Path, key: str, out: FaceArray) -> None:
    """The cache is an optimisation: an unwritable one (read-only, a file, a full disk) means running uncached."""
    try:
        _write_cache(cache_dir, key, out)
    except (OSError, EdgeAgeError) as e:
        reason = e.reason if isinstance(e, EdgeAgeError) else (e.strerror or str(e))
        _note(f"face cache {cache_dir} is not writable ({reason}); running uncached")


def _read_cache(cache_dir: Path, key: str) -> FaceArray | None:
    """The cached faces for ``key``; None when absent or unreadable (then they are rebuilt)."""
    npy, meta_path = cache_dir / f"{key}.npy", cache_dir / f"{key}.json"
    if not (npy.exists() and meta_path.exists()):
        return None
    try:
        meta = json.loads(meta_path.read_text())
        faces = np.load(npy, mmap_mode="r")
        if faces.shape[0] != len(meta["names"]):
            raise ValueError("rows do not match the names")
        return FaceArray(meta["names"], np.asarray(meta["ages"], dtype=np.float32), faces, meta["sha1"],
                         meta["n_faces"], [Problem(*p) for p in meta["problems"]])
    except (OSError, ValueError, KeyError, TypeError, EOFError) as e:  # a truncated entry (a power cut)
        _note(f"face cache entry {npy} is damaged ({type(e).__name__}); rebuilding it")
        return None


def _prepare_all(ls: LabeledSet, samples: Sequence[Sample], spec: PreprocessSpec, detect: bool,
                 progress: bool) -> FaceArray:
    by_name = {s.name: s for s in samples}
    faces = np.empty((len(samples), spec.size, spec.size, 3), dtype=np.uint8)
    names, ages, sha1, n_faces, problems = [], [], [], [], []
    bar = _progress(len(samples), "preparing faces", progress)
    for item in iter_prepared(ls, samples, spec, detect):
        bar.update(1)
        if item.problem is not None:
            problems.append(item.problem)
            continue
        faces[len(names)] = item.face
        names.append(item.name)
        ages.append(by_name[item.name].age)
        sha1.append(item.sha1)
        n_faces.append(item.n_faces)
    bar.close()
    # Keep a stable order (by name) whatever order the container yielded.
    order = sorted(range(len(names)), key=lambda i: names[i])
    return FaceArray([names[i] for i in order], np.asarray([ages[i] for i in order], dtype=np.float32),
                     faces[: len(names)][order], [sha1[i] for i in order], [n_faces[i] for i in order], problems)


def _write_cache(cache_dir: Path, key: str, out: FaceArray) -> None:
    cache_dir.mkdir(parents=True, exist_ok=True)
    with fileio.atomic_path(cache_dir / f"{key}.npy") as tmp:
        with open(tmp, "wb") as f:
            np.save(f, out.faces)
            f.flush()
            os.fsync(f.fileno())
    fileio.write_json(cache_dir / f"{key}.json", {
        "names": out.names, "ages": out.ages.tolist(), "sha1": out.sha1, "n_faces": out.n_faces,
        "problems": [[p.where, p.reason] for p in out.problems],
    })


def _progress(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="img", disable=not enabled, leave=False, dynamic_ncols=True)
