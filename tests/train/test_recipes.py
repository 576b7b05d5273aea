"""Named recipes (`train --recipe NAME`): each resolves through the options' own checks, the command line
overrides it, and the reference recipe is the reference command the project trained with."""

from __future__ import annotations

import shlex
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from edge_age.train import recipes
from edge_age.cli import build_parser
from edge_age.errors import EdgeAgeError
from edge_age.train.config import KNOWN_MODELS, RegistryNames, train_job

# The reference's command spelled out without a recipe (the recipe's options since the BlazeFace reference of
# 2026-12-07, lab/blaze24/README.md), data and out as run.sh gives them.
REFERENCE_BEFORE = ("train --data runs/path_train/labels.csv --detect-faces --model mobilenetv2_age --epochs 24 "
                    "--head distribution --loss dldl --bn-recalib 4096 --framing edge_age/reference/framing_blazeface.json "
                    "--pretrained --out runs/mobilenetv2_age --resume")
REFERENCE_NOW = "train --recipe reference --data runs/path_train/labels.csv --out runs/mobilenetv2_age --resume"


def _job(line: str, monkeypatch=None):
    argv = shlex.split(line)
    args = build_parser().parse_args(argv)
    args.argv = argv
    return train_job(args)


@pytest.fixture(autouse=True)
def _repo_root(monkeypatch) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])  # the old command names the fit by its repo path


def test_the_reference_recipe_is_the_reference_command() -> None:
    cfg_before, data_before, spec_before, _ = _job(REFERENCE_BEFORE)
    cfg_now, data_now, spec_now, resolved = _job(REFERENCE_NOW)
    assert cfg_now.recipe == "reference" and cfg_before.recipe == ""
    assert replace(cfg_now, recipe="") == cfg_before
    assert (data_now, spec_now) == (data_before, spec_before)
    assert data_now.detect_faces and cfg_now.model_kwargs["pretrained"] and spec_now.framing.detector == "blazeface"
    # the resolved command, run without the recipe, is the same run again
    cfg_again, data_again, spec_again, _ = _job(resolved.removeprefix("edge-age "))
    assert (replace(cfg_again, recipe=""), data_again, spec_again) == (cfg_before, data_before, spec_before)
    assert "--recipe reference" in resolved


def test_a_resolved_command_is_the_same_run_whatever_its_arch_names() -> None:
    """--recipe reference --arch resnet18: the resolved line keeps the recipe explicit, so the resnet18 recipe
    (an --arch of that name alone would pick it) adds nothing on a re-run; --recipe none uses no recipe."""
    cfg, data, spec, resolved = _job("train --recipe reference --arch resnet18 --data faces")
    again = _job(resolved.removeprefix("edge-age "))
    assert (again[0], again[1], again[2]) == (cfg, data, spec) and cfg.progressive == 0
    cfg, data, _, resolved = _job("train --recipe none --arch resnet18 --data faces")
    assert cfg.recipe == "" and cfg.loss == "l1" and cfg.progressive == 0 and not data.detect_faces
    assert _job(resolved.removeprefix("edge-age "))[0] == cfg


def test_a_resumed_run_keeps_its_recipe_and_epochs(tmp_path: Path) -> None:
    """`train --out RUN --resume` without --recipe continues with the run's recipe and epoch count, not
    today's default recipe's."""
    from edge_age.models.checkpoint import save_checkpoint
    from edge_age.train.config import TrainConfig

    run = tmp_path / "run"
    run.mkdir()
    stored = asdict(TrainConfig(model="simplecnn", epochs=7, recipe="simplecnn"))
    save_checkpoint(run / "last.pt", {"format": "edge-age-checkpoint", "version": 1, "train_config": stored})
    cfg, _, _, _ = _job(f"train --data faces --out {run} --resume")
    assert cfg.recipe == "simplecnn" and cfg.epochs == 7 and cfg.model == "simplecnn"
    cfg, _, _, _ = _job(f"train --data faces --out {run} --resume --epochs 9")
    assert cfg.epochs == 9


@pytest.mark.parametrize("name", recipes.names())
def test_every_recipe_resolves_through_the_options_checks(name: str) -> None:
    cfg, _, spec, resolved = _job(f"train --recipe {name} --data faces")
    values = recipes.load_recipe(name)
    assert cfg.recipe == name and cfg.model == values["arch"] and cfg.out == f"runs/{values['arch']}"
    assert cfg.epochs == values["epochs"] and spec.size > 0
    assert f"--arch {values['arch']}" in resolved


def test_the_command_line_overrides_the_recipe() -> None:
    cfg, data, _, resolved = _job("train --data faces --epochs 2 --no-pretrained --no-detect-faces --lr 0.002")
    assert cfg.recipe == recipes.DEFAULT and cfg.epochs == 2 and cfg.lr == 0.002
    assert "pretrained" not in cfg.model_kwargs and not data.detect_faces
    assert resolved.count("--epochs") == 1 and "--pretrained" not in resolved.split()


def test_an_architecture_alone_takes_its_own_recipe_or_none() -> None:
    cfg, _, _, _ = _job("train --data faces --arch simplecnn")
    assert cfg.recipe == "simplecnn" and cfg.epochs == recipes.load_recipe("simplecnn")["epochs"]
    cfg, data, _, _ = _job("train --data faces --arch mobilenetv2")
    assert cfg.recipe == "" and cfg.loss == "l1" and not data.detect_faces  # no reference options on another model


def test_a_bad_recipe_is_one_line_naming_it(tmp_path: Path) -> None:
    with pytest.raises(EdgeAgeError, match="--recipe nope: no such recipe"):
        _job("train --recipe nope --data faces")
    bad = tmp_path / "mine.toml"
    for text, message in (('arch = "simplecnn"\nwarp_speed = 9\n', "'warp_speed' is not a train option"),
                          ('arch = "simplecnn"\nepochs = 0\n', "--epochs: 0 is out of range"),
                          ('arch = "vgg99"\n', "--arch: 'vgg99' is not one of"),
                          ('arch = "simplecnn"\ndata = "elsewhere"\n', "'data' is not a train option"),
                          ("arch = [", "not a valid recipe file"),
                          ('arch = "simplecnn"\npretrained = "no"\n', "--pretrained: 'no' is not true or false")):
        bad.write_text(text)
        with pytest.raises(EdgeAgeError, match=message):
            _job(f"train --recipe {bad} --data faces")


def test_an_old_option_spelling_works_with_a_notice(capsys) -> None:
    cfg, _, _, _ = _job("train --data faces --model simplecnn")
    assert cfg.model == "simplecnn" and cfg.recipe == "simplecnn"
    assert "--model is now --arch" in capsys.readouterr().err


def test_train_help_lists_the_models_without_torch(monkeypatch) -> None:
    import builtins

    from edge_age.models import list_models

    assert KNOWN_MODELS == list_models()
    real_import = builtins.__import__

    def no_torch(name, *a, **k):
        if name == "edge_age.models":
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_torch)
    assert list(RegistryNames()) == KNOWN_MODELS and "simplecnn" in RegistryNames()


def test_recipes_name_only_options_a_recipe_may_set() -> None:
    for name in recipes.names():
        assert recipes.description(name), name
        assert set(recipes.load_recipe(name)) <= _recipe_keys(), name


def _recipe_keys() -> set[str]:
    args = build_parser().parse_args(["train"])
    return set(args.recipe_options)


def test_init_seed_moves_the_run_not_the_split() -> None:
    cfg, data, _, _ = _job("train --data runs/x/labels.csv --seed 2 --init-seed 5")
    assert (data.split.seed, cfg.seed, cfg.run_seed) == (2, 2, 5)
    cfg, data, _, _ = _job("train --data runs/x/labels.csv --seed 2")
    assert (data.split.seed, cfg.run_seed) == (2, 2)
