"""Every registered model builds, maps a 128x128 batch to one age per face, and exports cleanly."""

from __future__ import annotations

import pytest
import torch

from edge_age.errors import EdgeAgeError
from edge_age.models import create_model, list_models


@pytest.mark.parametrize("name", list_models())
def test_model_maps_batch_to_ages(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, age_mean=40.0).eval()
    with torch.no_grad():
        y = model(torch.randn(2, 3, 128, 128))
    assert y.shape == (2, 1)
    # The head starts at the training mean: untrained predictions sit near it, not near zero.
    assert (y - 40.0).abs().max() < 30


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
    with pytest.raises(EdgeAgeError, match="unknown model"):
        create_model("vgg99")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(EdgeAgeError, match="ImageNet weights not found"):
        create_model("resnet18", pretrained=True)
