"""Training on several sources and scoring each (issue 35): the checkpoint records every source and weight,
each epoch logs each source's val MAE, resume keeps the mix, and eval reports each source beside the pool."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from conftest import make_csv, make_utk
from edge_age.cli import main
from edge_age.data.dataset import sources_config
from edge_age.errors import EdgeAgeError
from edge_age.models.checkpoint import load_checkpoint
from edge_age.train.loop import TrainConfig, train


@pytest.fixture
def mixed_run(tmp_path: Path) -> dict:
    utk, mine = make_utk(tmp_path / "UTKFace", n_per_age=4), make_csv(tmp_path / "mine", n_per_age=3)
    f = tmp_path / "mix.toml"
    f.write_text(f'[[source]]\npath = "{utk}"\n\n[[source]]\npath = "{mine}"\nname = "mine"\nweight = 2\n')
    out, cache = tmp_path / "run", tmp_path / "cache"
    cfg = TrainConfig(model="simplecnn", out=str(out), epochs=2, batch_size=16, lr=5e-4, warmup_epochs=0.2,
                      seed=1, threads=1)
    lines: list[str] = []
    train(cfg, sources_config([str(f)]), progress=False, cache_dir=cache, log=lines.append)
    return {"utk": utk, "mine": mine, "toml": f, "out": out, "cache": cache, "cfg": cfg, "log": lines}


def test_the_checkpoint_records_every_source_and_each_epoch_scores_each(mixed_run: dict) -> None:
    out = mixed_run["out"]
    ck = load_checkpoint(out / "best.pt")
    data = ck["data"]
    assert data["path"] == str(mixed_run["utk"]) and data["weight"] == 1.0
    assert [(a["name"], a["weight"]) for a in data["also"]] == [("mine", 2.0)]
    with open(out / "metrics.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {"val_mae", "val_mae_UTKFace", "val_mae_mine"} <= set(rows[0])
    # 56 UTKFace and 42 own train faces at weights 1 and 2: 56 + 84 draws an epoch
    utk_train = ck["split_counts"]  # pooled counts
    assert sum(utk_train.values()) == 80 + 60
    assert any(line.startswith("sources: UTKFace train") and "mine train" in line and "weight 2" in line
               for line in mixed_run["log"])
    assert int(rows[0]["images"]) > ck["split_counts"]["train"]  # the weight-2 source was drawn twice


def test_resume_keeps_the_mix_and_refuses_another_number_of_sources(mixed_run: dict) -> None:
    cfg, out, cache = mixed_run["cfg"], mixed_run["out"], mixed_run["cache"]
    from dataclasses import replace

    summary = train(replace(cfg, epochs=3), sources_config([str(mixed_run["toml"])]), resume=True, progress=False,
                    cache_dir=cache, log=lambda s: None)
    assert summary["epochs_run"] == 3
    with pytest.raises(EdgeAgeError, match="trained on 2 source"):
        train(replace(cfg, epochs=4), sources_config([str(mixed_run["utk"])]), resume=True, progress=False,
              cache_dir=cache, log=lambda s: None)


def test_eval_reports_each_source_and_the_pool(mixed_run: dict, tmp_path: Path, capsys) -> None:
    best, cache = mixed_run["out"] / "best.pt", mixed_run["cache"]
    rc = main(["eval", str(best), "--split", "all", "--json", str(tmp_path / "m.json"), "--report",
               str(tmp_path / "rep"), "--cache-dir", str(cache), "--out", str(tmp_path / "ev"), "--no-progress"])
    assert rc == 0
    m = json.loads((tmp_path / "m.json").read_text())["metrics"]
    by = m["by_source"]
    assert set(by) == {"UTKFace", "mine"} and by["UTKFace"]["n"] + by["mine"]["n"] == m["n"] == 140
    assert all("bias" in v for v in by["mine"]["mae_per_band"].values())
    pooled = (by["UTKFace"]["mae"] * by["UTKFace"]["n"] + by["mine"]["mae"] * by["mine"]["n"]) / m["n"]
    assert pooled == pytest.approx(m["mae"])
    out = capsys.readouterr().out
    assert "source UTKFace: n 80" in out and "source mine: n 60" in out
    assert "## Each source" in (tmp_path / "rep" / "report.md").read_text()
    # --data given twice scores those two, each on the model's split
    rc = main(["eval", str(best), "--data", str(mixed_run["mine"]), "--data", str(mixed_run["utk"]), "--split",
               "test", "--json", str(tmp_path / "t.json"), "--cache-dir", str(cache), "--out", str(tmp_path / "ev2"),
               "--no-progress"])
    assert rc == 0
    t = json.loads((tmp_path / "t.json").read_text())
    assert list(t["metrics"]["by_source"]) == ["mine", "UTKFace"] and t["data"]["also"][0]["path"] == str(mixed_run["utk"])
