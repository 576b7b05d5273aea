"""Every registered model builds and maps a batch at its input size to one age per face."""

from __future__ import annotations

import pytest
import torch

from edge_age.errors import EdgeAgeError
from edge_age.models import create_model, default_input_size, list_models


def test_train_model_choices_are_the_registry(capsys) -> None:
    from edge_age.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "registry model: " + ", ".join(list_models()) in help_text
    with pytest.raises(SystemExit) as e:
        build_parser().parse_args(["train", "--arch", "resnet1"])
    assert e.value.code == 2 and "invalid choice: 'resnet1'" in capsys.readouterr().err


@pytest.mark.parametrize("name", list_models())
def test_model_maps_batch_to_ages(name: str) -> None:
    torch.manual_seed(0)
    size = default_input_size(name)
    model = create_model(name, age_mean=40.0, input_size=size).eval()
    with torch.no_grad():
        y = model(torch.randn(2, 3, size, size))
    assert y.shape == (2, 1)
    # The head starts at the training mean: untrained predictions sit near it, not near zero.
    assert (y - 40.0).abs().max() < 30


@pytest.mark.parametrize("name", [n for n in list_models() if n != "simplecnn"])
def test_distribution_head_starts_at_the_mean_age(name: str) -> None:
    from edge_age.models.registry import distribution_head

    torch.manual_seed(0)
    size = default_input_size(name)
    model = create_model(name, age_mean=40.0, age_std=15.0, head="distribution", input_size=size).eval()
    assert distribution_head(model) is not None and distribution_head(model).num_bins == 121
    with torch.no_grad():
        y = model(torch.randn(2, 3, size, size))
    assert y.shape == (2, 1) and (y - 40.0).abs().max() < 5


def test_help_lists_the_registrys_heads() -> None:
    from edge_age.models.registry import HEADS
    from edge_age.train.config import HEADS as HELP_HEADS

    assert HELP_HEADS == list(HEADS)


def test_simplecnn_is_exactly_the_seed_architecture() -> None:
    m = create_model("simplecnn")
    convs = [l for l in m.modules() if isinstance(l, torch.nn.Conv2d)]
    fcs = [l for l in m.modules() if isinstance(l, torch.nn.Linear)]
    assert [c.out_channels for c in convs] == [32, 64, 128, 256]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    assert [(f.in_features, f.out_features) for f in fcs] == [(8 * 8 * 256, 512), (512, 1)]
    assert sum(isinstance(l, torch.nn.MaxPool2d) for l in m.modules()) == 4
    assert sum(p.numel() for p in m.parameters()) == 8_778_049


def test_unknown_model_and_missing_pretrained_weights(tmp_path, monkeypatch) -> None:
    """Without the file and without a network: one line naming the file and what training without it loses."""
    import urllib.error

    import torch.hub

    def offline(url, dst, **kw):
        raise urllib.error.URLError("no network")

    with pytest.raises(EdgeAgeError, match="unknown model"):
        create_model("vgg99")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(EdgeAgeError, match="ImageNet weights not found"):
        create_model("resnet18", pretrained=True)
    with pytest.raises(EdgeAgeError, match="mobilenet_v2-b0353104.pth.*--no-pretrained, from random weights"):
        create_model("mobilenetv2_age", pretrained=True)


def test_missing_imagenet_weights_are_fetched_where_a_network_allows(tmp_path, monkeypatch) -> None:
    """torch.hub fetches the file into the hub cache (faked here: a copy of a state dict), and the model starts from it."""
    import torch.hub
    import torchvision

    reference = torchvision.models.mobilenet_v2().state_dict()
    fetched = []

    def download(url, dst, **kw):
        fetched.append(url)
        torch.save(reference, dst)

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    model = create_model("mobilenetv2_age", pretrained=True)
    assert fetched and fetched[0].endswith("mobilenet_v2-b0353104.pth")
    first = next(v for k, v in model.state_dict().items() if k.endswith("weight") and v.dim() == 4)
    assert torch.equal(first, reference["features.0.0.weight"])


def test_compact_model_is_small_and_loads_imagenet_weights(tmp_path, monkeypatch) -> None:
    """The compact model stays under 1 MB of int8 weights and really starts from the ImageNet file."""
    import shutil
    from pathlib import Path

    import torchvision

    m = create_model("mobilenetv2_age")
    assert sum(p.numel() for p in m.parameters()) < 1_000_000
    src = Path(__file__).resolve().parents[3] / "shared" / "weights" / "mobilenet_v2-b0353104.pth"
    if not src.exists():
        pytest.skip("../shared/weights not present")
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    shutil.copy(src, tmp_path / "hub" / "checkpoints" / src.name)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    pre = create_model("mobilenetv2_age", pretrained=True)
    ref = torchvision.models.mobilenet_v2().features[1].conv[0][0].weight
    imagenet = torch.load(src, weights_only=True)["features.1.conv.0.0.weight"]
    assert torch.equal(pre.features[1].conv[0][0].weight, imagenet)
    assert not torch.equal(ref, imagenet)


@pytest.mark.parametrize("name", list_models())
def test_a_builder_refuses_an_option_it_does_not_take(name: str) -> None:
    # Every builder takes what train and checkpoints pass (input size, pretrained off) ...
    create_model(name, input_size=default_input_size(name), pretrained=False, dropout=0.1)
    # ... and names what it does not take, instead of swallowing it.
    with pytest.raises(EdgeAgeError, match="takes no option bogus"):
        create_model(name, bogus=1)


def test_head_on_a_model_without_one_is_a_one_line_error(utk_dir, tmp_path, capsys) -> None:
    from edge_age.cli import main

    rc = main(["train", "--arch", "simplecnn", "--head", "distribution", "--data", str(utk_dir),
               "--out", str(tmp_path / "r"), "--epochs", "1", "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "takes no option head" in err and len(err.splitlines()) == 1, err
