"""From ``--data PATH`` (one source or several) to split, prepared faces: the one entry point every command uses."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from edge_age.data.cache import FaceArray, build_faces, default_cache_dir
from edge_age.data.containers import ARCHIVE_SUFFIXES
from edge_age.data.preprocess import PreprocessSpec
from edge_age.data.sources import LabeledSet, Problem, Sample, load_labeled
from edge_age.data.split import SPLITS, SplitConfig, assign_splits, limit_mask
from edge_age.errors import EdgeAgeError

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib


def default_data() -> str:
    """Where the data is when --data is not given: $EDGE_AGE_DATA, else data/UTKFace.tar.gz."""
    return os.environ.get("EDGE_AGE_DATA", "data/UTKFace.tar.gz")


@dataclass(frozen=True)
class DataConfig:
    """Where the faces come from and how they are split; stored in checkpoints and model cards."""

    path: str
    scheme: str = "auto"
    detect_faces: bool = False
    split: SplitConfig = field(default_factory=SplitConfig)
    limit: int | None = None
    # Several sources in one run: this config is the first, ``also`` the others (each its own path, scheme,
    # detection and weight; the split and limit are this one's, applied to each source on its own). ``weight``
    # is how often a source's training faces are drawn per epoch (1: each once; 2: each twice; 0.5: half of
    # them, a new half every epoch); ``name`` labels the source in reports (default: from its path).
    weight: float = 1.0
    name: str = ""
    also: tuple["DataConfig", ...] = ()

    def __post_init__(self) -> None:
        if not (self.weight == self.weight and 0 < self.weight <= 100):
            raise EdgeAgeError(f"source weight must be a number in (0, 100], got {self.weight!r}", self.path)

    def sources(self) -> list["DataConfig"]:
        """Every source as a one-source config with this split and limit (one element for a single source)."""
        return [replace(s, also=(), split=self.split, limit=self.limit) for s in (self, *self.also)]

    def labels(self) -> list[str]:
        """Each source's name in reports: its ``name``, else its file or folder name (numbered if repeated)."""
        out: list[str] = []
        for s in self.sources():
            label = s.name or _path_label(s.path)
            out.append(label if label not in out else f"{label}#{len(out) + 1}")
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        if not self.also:  # a one-source config is stored as it always was
            for k in ("weight", "name", "also"):
                d.pop(k)
        return d

    def with_path(self, path: str | None) -> "DataConfig":
        """This split on the dataset at ``path`` (None: this one). ``detect_faces`` says what this dataset's
        images are (raw photos), so it carries over to the same path only: another dataset detects when asked."""
        if path is None or (os.path.realpath(path) == os.path.realpath(self.path) and not self.also):
            return self
        return replace(self, path=path, detect_faces=False, also=(), weight=1.0, name="")

    def dropped_detection(self, scored: "DataConfig") -> str | None:
        """The line to tell a user whose model was trained on photos (this config) that ``scored``, the config
        it is scored with (``config_for_model``), reads its images without detection."""
        if self.detect_faces and not scored.detect_faces:
            return (f"note: the model was trained with --detect-faces on {self.path}; {scored.path} is read as face "
                    f"crops (add --detect-faces if its images are photos)")
        return None

    @classmethod
    def from_dict(cls, d: dict) -> "DataConfig":
        d = dict(d)
        d["split"] = SplitConfig(**d.get("split", {}))
        d["also"] = tuple(cls.from_dict(a) for a in d.get("also", ()))
        return cls(**d)

    @classmethod
    def mix(cls, sources: Sequence["DataConfig"]) -> "DataConfig":
        """One config for several sources (the first's split and limit apply to all)."""
        if not sources:
            raise EdgeAgeError("no data source given")
        first, *rest = sources
        return replace(first, also=tuple(replace(r, also=()) for r in rest)) if rest else first


def _path_label(path: str) -> str:
    """``AAF-train.tar.gz`` -> ``AAF-train``; ``runs/path_train/labels.csv`` -> ``path_train``."""
    p = Path(path)
    name = p.name
    for suffix in sorted((*ARCHIVE_SUFFIXES, ".csv", ".toml"), key=len, reverse=True):  # .tar.gz before .tar
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return p.parent.name if name.lower() in ("labels", "") and p.parent.name else name


SOURCE_KEYS = {"path", "labels", "detect_faces", "weight", "name"}


def read_sources_file(path: str | Path, scheme: str = "auto", detect_faces: bool = False) -> list[DataConfig]:
    """The sources a TOML file lists (``[[source]]`` tables: ``path`` relative to the file, optional
    ``labels`` (scheme), ``detect_faces``, ``weight``, ``name``); the command line's scheme and detection are
    each source's default."""
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise EdgeAgeError(f"not a readable sources file ({e})", p) from None
    tables = doc.get("source")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise EdgeAgeError("a sources file lists its sources as [[source]] tables, each with a path", p)
    out = []
    for k, t in enumerate(tables, 1):
        unknown = set(t) - SOURCE_KEYS
        if unknown or not isinstance(t.get("path"), str):
            raise EdgeAgeError(f"source {k}: needs a path (a string); known keys are {', '.join(sorted(SOURCE_KEYS))}"
                               + (f", not {', '.join(sorted(unknown))}" if unknown else ""), p)
        weight, det = t.get("weight", 1.0), t.get("detect_faces", detect_faces)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not isinstance(det, bool):
            raise EdgeAgeError(f"source {k}: weight must be a number and detect_faces true or false", p)
        src = Path(t["path"]).expanduser()
        out.append(DataConfig(path=os.path.normpath(src if src.is_absolute() else p.parent / src), scheme=t.get("labels", scheme),
                              detect_faces=det, weight=float(weight), name=str(t.get("name", ""))))
    return out


def sources_config(paths: Sequence[str], scheme: str = "auto", detect_faces: bool = False,
                   split: SplitConfig = SplitConfig(), limit: int | None = None) -> DataConfig:
    """The data config of ``--data`` given once or more: each a dataset, or a ``.toml`` sources file."""
    sources: list[DataConfig] = []
    for path in paths:
        if str(path).lower().endswith(".toml"):
            sources += read_sources_file(path, scheme, detect_faces)
        else:
            sources.append(DataConfig(path=str(path), scheme=scheme, detect_faces=detect_faces))
    return replace(DataConfig.mix(sources), split=split, limit=limit)


def config_for_model(stored: dict | None, path: str | Sequence[str] | None = None, scheme: str = "auto",
                     detect_faces: bool = False, seed: int | None = None, limit: int | None = None) -> DataConfig:
    """The data config to score a model with: its stored one (same split), overridden where asked.

    ``stored`` is the data config a checkpoint or model card carries (None for a foreign file).
    A model is scored on its own split unless ``seed`` asks for another one; ``path`` names the dataset
    to score (several, or a ``.toml`` sources file: each source scored on its own split), and an explicit
    ``scheme`` or ``detect_faces`` wins over the stored ones. Stored detection applies to the stored path only:
    a model trained on raw photos with --detect-faces is scored on aligned chips elsewhere without it
    (DataConfig.with_path). A model trained on several sources is scored on all of them unless ``path``.
    """
    paths = [str(path)] if isinstance(path, (str, Path)) else [str(p) for p in (path or [])]
    stored_cfg = DataConfig.from_dict(stored) if stored else None
    split = SplitConfig(seed=seed) if seed is not None else (stored_cfg.split if stored_cfg else SplitConfig())
    if len(paths) > 1 or any(p.lower().endswith(".toml") for p in paths):
        return sources_config(paths, scheme, detect_faces, split, limit)
    if stored_cfg is not None and stored_cfg.also and not paths:
        return replace(stored_cfg, split=split, limit=limit, also=tuple(
            replace(s, detect_faces=s.detect_faces or detect_faces) for s in stored_cfg.also),
            detect_faces=stored_cfg.detect_faces or detect_faces)
    path = paths[0] if paths else None
    base = stored_cfg.with_path(path) if stored_cfg else None
    return DataConfig(
        path=path or (base.path if base else default_data()),
        scheme=scheme if scheme != "auto" or base is None else base.scheme,
        detect_faces=detect_faces or bool(base and base.detect_faces),
        split=split,
        limit=limit,
    )


@dataclass
class Dataset:
    config: DataConfig
    labeled: LabeledSet
    faces: FaceArray
    split: np.ndarray  # split name per row of ``faces``
    # Several sources: the source number of each row and the sources' labels (None, () for one source).
    source: np.ndarray | None = None
    source_labels: tuple[str, ...] = ()

    @property
    def problems(self) -> list[Problem]:
        return self.labeled.problems + self.faces.problems

    def indices(self, split: str) -> np.ndarray:
        if split == "all":
            return np.arange(len(self.faces))
        if split not in SPLITS:
            raise EdgeAgeError(f"unknown split {split!r}; choose from train, val, test, all")
        return np.flatnonzero(self.split == split)

    def counts(self) -> dict[str, int]:
        return {s: int((self.split == s).sum()) for s in SPLITS}


def load_dataset(
    cfg: DataConfig,
    spec: PreprocessSpec,
    cache_dir: Path | None = None,
    progress: bool = True,
    splits: tuple[str, ...] | None = None,
) -> Dataset:
    """List, split and prepare the faces of ``cfg.path``.

    The split is computed on every labeled name before ``--limit`` and before any image is decoded,
    so it depends on names and seed only. ``splits`` restricts decoding to the splits a command needs
    (``eval --split test`` decodes only test faces).
    """
    if cfg.also:
        return _load_mixed(cfg, spec, cache_dir, progress, splits)
    labeled, chosen, split_of = _select(cfg, splits)
    if len(chosen) == 0:  # not a read failure: nothing was selected to read
        limit = f" (--limit {cfg.limit})" if cfg.limit is not None else ""
        raise EdgeAgeError(f"the selection is empty: the {'/'.join(splits or ('all',))} split has no images among "
                           f"the {len(labeled.samples)} labeled ones{limit}", cfg.path)
    faces = build_faces(
        labeled, chosen, spec, cfg.detect_faces, default_cache_dir() if cache_dir is None else cache_dir, progress
    )
    if len(faces) == 0:
        raise EdgeAgeError(f"none of the {len(chosen)} selected images could be read", cfg.path)
    split = np.asarray([split_of[n] for n in faces.names], dtype=object)
    return Dataset(cfg, labeled, faces, split)


def _load_mixed(cfg: DataConfig, spec: PreprocessSpec, cache_dir: Path | None, progress: bool,
                splits: tuple[str, ...] | None) -> Dataset:
    """Each source listed, split and prepared on its own (its own cache entries), then stacked; every name is
    prefixed with its source's label (``AAF-train/AAF/images/1.jpg``) so that names stay unique and say where
    a face came from, and every face's groups carry its source (eval's per-group tables show each source)."""
    parts = [load_dataset(s, spec, cache_dir, progress, splits) for s in cfg.sources()]
    labels = cfg.labels()
    names = [f"{lab}/{n}" for lab, d in zip(labels, parts) for n in d.faces.names]
    faces = FaceArray(
        names=names,
        ages=np.concatenate([d.faces.ages for d in parts]),
        faces=np.concatenate([np.asarray(d.faces.faces) for d in parts]),
        sha1=[h for d in parts for h in d.faces.sha1],
        n_faces=[n for d in parts for n in d.faces.n_faces],
        problems=[p for d in parts for p in d.faces.problems],
    )
    samples = [Sample(f"{lab}/{s.name}", s.age) for lab, d in zip(labels, parts) for s in d.labeled.samples]
    groups = {f"{lab}/{s.name}": {**d.labeled.groups.get(s.name, {}), "source": lab}
              for lab, d in zip(labels, parts) for s in d.labeled.samples}
    labeled = LabeledSet(parts[0].labeled.container, "mixed", samples,
                         [p for d in parts for p in d.labeled.problems], groups)
    source = np.concatenate([np.full(len(d.faces), k) for k, d in enumerate(parts)])
    return Dataset(cfg, labeled, faces, np.concatenate([d.split for d in parts]), source, tuple(labels))


def _select(cfg: DataConfig, splits: tuple[str, ...] | None) -> tuple[LabeledSet, list, dict[str, str]]:
    """The labeled set, the samples of ``splits`` (every one for None or "all") after ``--limit``, in a
    stable order, and each chosen name's split: the split is assigned on every name before the limit."""
    labeled = load_labeled(cfg.path, cfg.scheme)
    names = [s.name for s in labeled.samples]
    assigned = assign_splits(names, [s.age for s in labeled.samples], cfg.split)
    keep = limit_mask(names, cfg.limit, cfg.split.seed)
    if splits is not None and "all" not in splits:  # "all": every face, as eval and bench --split all mean it
        keep &= np.isin(assigned, list(splits))
    chosen = [s for s, k in zip(labeled.samples, keep) if k]
    split_of = {s.name: sp for s, sp, k in zip(labeled.samples, assigned, keep) if k}
    return labeled, chosen, split_of


def split_samples(cfg: DataConfig, split: str) -> tuple[LabeledSet, list]:
    """The labeled samples of one split (all of them for ``"all"``), in a stable order, before decoding."""
    labeled, chosen, _ = _select(cfg, (split,))
    if not chosen:
        raise EdgeAgeError(f"the {split} split is empty", cfg.path)
    return labeled, chosen
