"""Several sources in one run (issue 35): --data repeated or a sources file, each split on its own, mixed by
weight; the config round-trips through checkpoints and cards, and a one-source config is stored as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import make_csv, make_folders, make_utk
from edge_age.data.dataset import DataConfig, config_for_model, load_dataset, sources_config
from edge_age.data.preprocess import PreprocessSpec
from edge_age.errors import EdgeAgeError
from edge_age.train.loop import epoch_rows

SPEC = PreprocessSpec(size=32)


@pytest.fixture
def two(tmp_path: Path) -> tuple[Path, Path]:
    return make_utk(tmp_path / "UTKFace", n_per_age=4), make_csv(tmp_path / "mine", n_per_age=2)


def test_a_one_source_config_is_stored_as_before(tmp_path: Path) -> None:
    d = DataConfig(str(tmp_path)).to_dict()
    assert set(d) == {"path", "scheme", "detect_faces", "split", "limit"}
    assert DataConfig.from_dict(d) == DataConfig(str(tmp_path))


def test_several_sources_round_trip_and_are_labelled(two: tuple[Path, Path]) -> None:
    utk, csv = two
    cfg = sources_config([str(utk), str(csv)], detect_faces=True)
    assert [s.path for s in cfg.sources()] == [str(utk), str(csv)]
    assert cfg.labels() == ["UTKFace", "mine"]  # a labels.csv is named by its folder
    assert all(s.detect_faces and not s.also for s in cfg.sources())
    assert DataConfig.from_dict(cfg.to_dict()) == cfg
    twice = sources_config([str(utk), str(utk)])
    assert twice.labels() == ["UTKFace", "UTKFace#2"]


def test_a_sources_file_gives_each_source_its_own_options(two: tuple[Path, Path], tmp_path: Path) -> None:
    utk, csv = two
    f = tmp_path / "conf" / "mix.toml"
    f.parent.mkdir()
    f.write_text(f'[[source]]\npath = "{utk}"\nname = "utk"\n\n[[source]]\npath = "../mine/labels.csv"\n'
                 f'weight = 2.5\ndetect_faces = true\nlabels = "csv"\n')
    cfg = sources_config([str(f)])
    a, b = cfg.sources()
    assert (a.name, a.weight, a.detect_faces) == ("utk", 1.0, False)
    assert Path(b.path).resolve() == csv.resolve() and (b.weight, b.detect_faces, b.scheme) == (2.5, True, "csv")
    assert cfg.labels() == ["utk", "mine"]


@pytest.mark.parametrize("text, why", [
    ("", "[[source]] tables"),
    ('[[source]]\nweight = 2\n', "needs a path"),
    ('[[source]]\npath = "x"\nwieght = 2\n', "not wieght"),
    ('[[source]]\npath = "x"\nweight = "2"\n', "weight must be a number"),
    ('[[source]]\npath = "x"\nweight = 0\n', "weight must be a number in (0, 100]"),
    ('[[source]]\npath = "x"\nweight = nan\n', "weight must be a number in (0, 100]"),
    ('[[source]]\npath = "x"\ndetect_faces = "no"\n', "detect_faces true or false"),
    ("[[source]\n", "not a readable sources file"),
])
def test_a_bad_sources_file_is_one_line_naming_it(tmp_path: Path, text: str, why: str) -> None:
    f = tmp_path / "mix.toml"
    f.write_text(text)
    with pytest.raises(EdgeAgeError) as e:
        sources_config([str(f)])
    assert why in str(e.value) and "\n" not in str(e.value)


def test_each_source_splits_as_it_would_alone(two: tuple[Path, Path], tmp_path: Path) -> None:
    utk, csv = two
    cache = tmp_path / "cache"
    mixed = load_dataset(sources_config([str(utk), str(csv)]), SPEC, cache_dir=cache, progress=False)
    assert mixed.source_labels == ("UTKFace", "mine")
    for k, path in enumerate((utk, csv)):
        alone = load_dataset(DataConfig(str(path)), SPEC, cache_dir=cache, progress=False)
        rows = np.flatnonzero(mixed.source == k)
        label = mixed.source_labels[k]
        assert [mixed.faces.names[i] for i in rows] == [f"{label}/{n}" for n in alone.faces.names]
        assert list(mixed.split[rows]) == list(alone.split)
        assert np.array_equal(mixed.faces.faces[rows], alone.faces.faces)
        assert all(mixed.labeled.groups[mixed.faces.names[i]]["source"] == label for i in rows)
    assert mixed.counts() == {s: int((mixed.split == s).sum()) for s in ("train", "val", "test")}


def test_a_model_trained_on_several_sources_is_scored_on_each(two: tuple[Path, Path], tmp_path: Path) -> None:
    utk, csv = two
    stored = sources_config([str(utk), str(csv)]).to_dict()
    assert config_for_model(stored).labels() == ["UTKFace", "mine"]
    assert not config_for_model(stored, str(csv)).also  # one --data: that dataset alone
    again = config_for_model(stored, [str(csv), str(utk)], seed=4)
    assert again.labels() == ["mine", "UTKFace"] and again.split.seed == 4


def test_one_source_draws_each_training_face_once_in_the_order_it_always_did() -> None:
    tr = np.arange(0, 50, 2)
    assert np.array_equal(epoch_rows(tr, 3, 1), np.random.default_rng([3, 1]).permutation(tr))


@pytest.mark.parametrize("weights", [(1.0, 1.0), (1.0, 2.0), (1.0, 0.5), (0.25, 3.5)])
def test_weights_say_how_often_each_source_is_drawn(weights: tuple[float, float]) -> None:
    source = np.array([0] * 40 + [1] * 20)
    tr = np.arange(60)
    for epoch in range(3):
        rows = epoch_rows(tr, 0, epoch, source, weights)
        for k, w in enumerate(weights):
            mine = rows[source[rows] == k]
            n = int((source == k).sum())
            assert len(mine) == int(w) * n + round((w % 1) * n)
            counts = np.bincount(mine, minlength=60)[source == k]
            assert counts.min() >= int(w) and counts.max() <= int(w) + (w % 1 > 0)
    assert np.array_equal(epoch_rows(tr, 0, 1, source, weights), epoch_rows(tr, 0, 1, source, weights))
    if weights[1] % 1:  # a fractional weight draws another subset each epoch
        assert not np.array_equal(np.sort(epoch_rows(tr, 0, 1, source, weights)),
                                  np.sort(epoch_rows(tr, 0, 2, source, weights)))


def test_a_folder_tree_and_a_utkface_folder_mix(tmp_path: Path) -> None:
    a, b = make_utk(tmp_path / "a", n_per_age=2), make_folders(tmp_path / "b", n_per_age=2)
    ds = load_dataset(sources_config([str(a), str(b)]), SPEC, cache_dir=tmp_path / "cache", progress=False)
    assert len(set(ds.faces.names)) == len(ds.faces) == 80


def _blobs(seed: int, size: int = 64) -> np.ndarray:
    """An image of smooth random structure: unlike the generated faces (alike at one age), no two alike."""
    import cv2

    noise = np.random.default_rng(seed).uniform(0, 255, (size // 8, size // 8, 3)).astype(np.uint8)
    return cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)


def test_data_report_finds_the_same_face_in_two_sources(tmp_path: Path) -> None:
    """A face copied into a second source (resized, re-encoded) is found across the sources, once, with its
    splits; the other images of the two sources are not (their hashes are many bits apart)."""
    import cv2

    from conftest import write_jpg
    from edge_age.data.report import build_report

    a, b = tmp_path / "a", tmp_path / "b"
    for k in range(40):
        write_jpg(a / f"{20 + k}_0_0_2017{k:09d}.jpg.chip.jpg", _blobs(k))
    rows = ["file_name,age"] + [f"images/p{k}.jpg,{30 + k}" for k in range(20)]
    for k in range(20):
        write_jpg(b / "images" / f"p{k}.jpg", _blobs(1000 + k))
    copies = [0, 7, 33]
    for k in copies:
        img = cv2.resize(cv2.resize(_blobs(k), (80, 80), interpolation=cv2.INTER_AREA), (64, 64))
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 70])
        (b / "images" / f"copy{k}.jpg").write_bytes(buf.tobytes())
        rows.append(f"images/copy{k}.jpg,{20 + k}")
    (b / "labels.csv").write_text("\n".join(rows) + "\n")
    ds = load_dataset(sources_config([str(a), str(b / "labels.csv")]), PreprocessSpec(), cache_dir=tmp_path / "c",
                      progress=False)
    cross = build_report(ds)["cross_source_duplicates"]
    found = {(x.split(" [")[0].split("/")[-1], y.split(" [")[0].split("/")[-1]) for x, y, _ in cross["examples"]}
    assert found == {(f"{20 + k}_0_0_2017{k:09d}.jpg.chip.jpg", f"copy{k}.jpg") for k in copies}
    split = dict(zip(ds.faces.names, ds.split))
    assert cross["pairs"] == 3 and cross["leaks"] == sum(
        split[f"a/{20 + k}_0_0_2017{k:09d}.jpg.chip.jpg"] != split[f"b/images/copy{k}.jpg"] for k in copies)
    assert build_report(load_dataset(DataConfig(str(a)), PreprocessSpec(), cache_dir=tmp_path / "c",
                                     progress=False))["cross_source_duplicates"] is None


def test_data_report_over_two_sources_on_the_command_line(two: tuple[Path, Path], tmp_path: Path) -> None:
    import json

    from edge_age.cli import main

    utk, csv = two
    out = tmp_path / "rep"
    assert main(["data", "report", "--data", str(utk), "--data", str(csv), "--framing", "blazeface", "--out",
                 str(out), "--cache-dir", str(tmp_path / "c"), "--no-progress"]) == 0
    r = json.loads((out / "report.json").read_text())
    assert r["sources"] == {"UTKFace": str(utk), "mine": str(csv)} and r["readable"] == 80 + 40
    assert r["cross_source_duplicates"]["min_cosine"] == 0.985
    assert "the same face in two sources" in (out / "report.md").read_text()
