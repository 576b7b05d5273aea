"""What a new user tripped on (issue 32, item 8): each trip is a test that failed before its fix.

Cheap: the bundled reference model, generated faces, no training.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import face_image, make_utk, write_jpg
from edge_age import fileio
from edge_age.cli import main
from edge_age.formats import bundled_reference


def _faces(folder: Path, n: int = 2) -> list[Path]:
    return [write_jpg(folder / f"face{i}.jpg", face_image(20 + 30 * i, i, size=96)) for i in range(n)]


# 1. `edge-age models`: a long path ran into the next column.

def test_models_table_stays_aligned_when_a_path_is_long(tmp_path: Path, monkeypatch, capsys) -> None:
    deep = tmp_path / "exports" / ("a_folder_with_a_rather_long_name_" * 3) / "and_one_more_level_below_it"
    deep.mkdir(parents=True)
    ref = bundled_reference()
    for f in (ref, ref.parent / "mobilenetv2_age.json"):
        shutil.copy(f, deep / f.name)
    monkeypatch.chdir(tmp_path)
    assert main(["models", "exports", "--json", "m.json"]) == 0
    lines = capsys.readouterr().out.rstrip("\n").splitlines()
    rows = json.loads((tmp_path / "m.json").read_text())["models"]
    long_file = str(Path("exports") / deep.relative_to(tmp_path / "exports") / ref.name)
    assert len(long_file) > 100 and rows[-1]["file"] == long_file  # --json keeps the whole path
    header, body = lines[0], lines[1:]
    assert len(body) == len(rows)
    for line, row in zip(body, rows):
        assert line[header.index("format"):].startswith(row["format"]), (header, line)  # left-aligned columns
        assert line[header.index("where"):].startswith(row["where"]), (header, line)
        mb_end = header.index("MB") + len("MB")  # right-aligned numbers end under their header
        assert line[:mb_end].endswith(f"{row['mb']:.2f}"), (header, line)
        mae_end = header.index("val MAE") + len("val MAE")
        assert line[:mae_end].endswith(f"{row['val_mae']:.3f}"), (header, line)
        assert row["file"] in line  # the table shows it whole too
    assert lines[-1].rstrip().endswith(long_file)


# 2. `--json -` wrote a file named `-`; JSON goes to standard output, and predict's own lines to stderr.

def test_write_json_to_dash_is_standard_output(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    fileio.check_target(Path("-"))  # allowed, even where a folder could not be replaced
    fileio.write_json("-", {"a": [1, 2]})
    fileio.write_json(Path("-"), {"b": 3})  # as the options give it (type=Path)
    out = capsys.readouterr().out
    assert [json.loads(part) for part in out.replace("}\n{", "}\n\x00{").split("\x00")] == [{"a": [1, 2]}, {"b": 3}]
    assert not (tmp_path / "-").exists()


def test_predict_json_dash_puts_only_json_on_stdout(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    imgs = _faces(tmp_path / "in")
    assert main(["predict", "--crops", *map(str, imgs), "--json", "-"]) == 0
    said = capsys.readouterr()
    result = json.loads(said.out)  # nothing but the JSON: a pipe into `jq` works
    assert [Path(r["file"]) for r in result["results"]] == imgs and not (tmp_path / "-").exists()
    err = said.err.splitlines()
    assert err[0].startswith("file\t") and sum(line.startswith(str(tmp_path)) for line in err) == 2, said.err
    assert "standard output" in err[-1], said.err


# 3. `predict` printed no column header and did not say where --json/--annotate wrote.

def test_predict_prints_a_header_and_names_what_it_wrote(tmp_path: Path, capsys) -> None:
    imgs = _faces(tmp_path / "in")
    js, ann = tmp_path / "p.json", tmp_path / "ann"
    assert main(["predict", "--crops", *map(str, imgs), "--json", str(js), "--annotate", str(ann)]) == 0
    said = capsys.readouterr()
    lines = said.out.splitlines()
    header, faces, wrote = lines[0], lines[1:-1], lines[-1]
    assert header.split("\t")[:3] == ["file", "box x,y,w,h", "age"], said.out
    assert len(faces) == 2 and all(len(f.split("\t")) == len(header.split("\t")) for f in faces), said.out
    assert wrote.startswith("wrote") and str(js) in wrote and str(ann) in wrote and "2 annotated" in wrote, wrote
    assert js.is_file() and len(list(ann.glob("*_age.jpg"))) == 2
    assert len(said.err.strip().splitlines()) == 1  # stderr: the counts only, as before


# 4. `data wild --split train` suggested scoring a model on training faces.

@pytest.mark.parametrize("split", ["train", "test"])
def test_data_wild_suggests_what_the_split_is_for(split: str, tmp_path: Path, capsys) -> None:
    data = make_utk(tmp_path / "faces", n_per_age=1)
    out = tmp_path / f"wild_{split}"
    assert main(["data", "wild", "--data", str(data), "--split", split, "--out", str(out), "--no-progress"]) == 0
    said = capsys.readouterr().out
    if split == "train":
        assert "edge-age eval" not in said and "score a model on them" not in said, said
        assert "training material" in said and "scripts/path_training.py" in said and str(out) in said, said
    else:
        assert f"score a model on them: edge-age eval MODEL --data {out / 'labels.csv'}" in said, said


def test_predict_finds_faces_by_default_and_crops_reads_each_image_as_one(tmp_path: Path, capsys) -> None:
    """`edge-age predict photo.jpg` detects: a photo without a face is reported, not given an age; --crops reads
    the same image as one face crop; the old --detect-faces still parses, with a notice."""
    import numpy as np

    blank = write_jpg(tmp_path / "blank.jpg", np.full((240, 320, 3), 128, np.uint8))
    assert main(["predict", str(blank)]) == 2
    assert "no face" in capsys.readouterr().err
    assert main(["predict", "--crops", str(blank), "--json", str(tmp_path / "c.json")]) == 0
    assert len(json.loads((tmp_path / "c.json").read_text())["results"]) == 1
    capsys.readouterr()
    assert main(["predict", "--detect-faces", str(blank)]) == 2
    assert "finds faces by default now" in capsys.readouterr().err
