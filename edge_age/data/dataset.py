"""From ``--data PATH`` to split, prepared faces: the one entry point every command uses."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from edge_age.data.cache import FaceArray, build_faces, default_cache_dir
from edge_age.data.preprocess import PreprocessSpec
from edge_age.data.sources import LabeledSet, Problem, load_labeled
from edge_age.data.split import SPLITS, SplitConfig, assign_splits, limit_mask
from edge_age.errors import EdgeAgeError


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

    def to_dict(self) -> dict:
        return asdict(self)

    def with_path(self, path: str | None) -> "DataConfig":
        """This split on the dataset at ``path`` (None: this one). ``detect_faces`` says what this dataset's
        images are (raw photos), so it carries over to the same path only: another dataset detects when asked."""
        if path is None or os.path.realpath(path) == os.path.realpath(self.path):
            return self
        return replace(self, path=path, detect_faces=False)

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
        return cls(**d)


def config_for_model(stored: dict | None, path: str | None = None, scheme: str = "auto",
                     detect_faces: bool = False, seed: int | None = None, limit: int | None = None) -> DataConfig:
    """The data config to score a model with: its stored one (same split), overridden where asked.

    ``stored`` is the data config a checkpoint or model card carries (None for a foreign file).
    A model is scored on its own split unless ``seed`` asks for another one; ``path`` names the dataset
    to score, and an explicit ``scheme`` or ``detect_faces`` wins over the stored ones. Stored detection
    applies to the stored path only: a model trained on raw photos with --detect-faces is scored on aligned
    chips elsewhere without it (DataConfig.with_path).
    """
    base = DataConfig.from_dict(stored).with_path(path) if stored else None
    split = SplitConfig(seed=seed) if seed is not None else (base.split if base else SplitConfig())
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
