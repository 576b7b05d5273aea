"""Float baselines: torchvision ResNet18/ResNet50 with a one-output regression head, or with the
distribution head (``head="distribution"``: one-year bins and their expectation, for DLDL) that the
compact model uses, so the baselines can be trained with the project's best recipe.

From scratch by default (no ImageNet ResNet weights ship here). ``pretrained=True`` loads
torchvision's ImageNet weights from the local torch hub cache and fails with a clear message,
naming the expected file, when they are not there -- nothing is downloaded at run time.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch.nn as nn
import torchvision

from edge_age.errors import EdgeAgeError
from edge_age.models.registry import age_output, init_age_output, register_model


# How long a download of ImageNet weights may wait for the network before the run says what it lacks.
DOWNLOAD_TIMEOUT_S = 20


def _weights_available(weights: "torchvision.models.WeightsEnum") -> None:
    """torchvision's ImageNet file in the torch hub cache; fetched by torch.hub where a network allows
    (written atomically), else a one-line error saying what training without it loses."""
    import http.client
    import re
    import socket

    import torch.hub

    fname = Path(weights.url).name
    path = Path(torch.hub.get_dir()) / "checkpoints" / fname
    if path.exists():
        return
    old = socket.getdefaulttimeout()
    try:
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
        path.parent.mkdir(parents=True, exist_ok=True)
        # torchvision's file names carry a prefix of the file's sha256: a proxy's error page saved as the
        # weights would otherwise fail every later run
        prefix = re.search(r"-([a-f0-9]+)\.", fname)
        torch.hub.download_url_to_file(weights.url, str(path), hash_prefix=prefix.group(1) if prefix else None,
                                       progress=False)
        return
    except (OSError, ValueError, RuntimeError, http.client.HTTPException) as e:
        # URLError is an OSError (no network, a proxy, a full disk); a hash mismatch is a RuntimeError
        reason = getattr(e, "reason", None) or e
    finally:
        socket.setdefaulttimeout(old)
    raise EdgeAgeError(
        f"ImageNet weights not found and not downloadable ({reason}); place torchvision's {fname} there "
        f"(TORCH_HOME={os.environ.get('TORCH_HOME', '~/.cache/torch')}) or train with --no-pretrained, from "
        "random weights: slower to converge and less accurate",
        path,
    )


def _resnet(arch: str, pretrained: bool, age_mean: float, age_std: float, dropout: float,
            head: str = "regression") -> nn.Module:
    weights = None
    if pretrained:
        weights = torchvision.models.get_model_weights(arch).IMAGENET1K_V1
        _weights_available(weights)
    # From scratch, zero-initialised residual branches start each block as identity (torchvision's
    # recommended setting); with the small head below an untrained ResNet predicts the mean age
    # instead of ~1000 years (ResNet50's pooled features are large at default init).
    kwargs = {} if pretrained else {"zero_init_residual": True}
    model = torchvision.models.get_model(arch, weights=weights, **kwargs)
    last, out = age_output(model.fc.in_features, head, age_mean, age_std)
    init_age_output(last, out, age_mean, age_std)
    model.fc = nn.Sequential(nn.Dropout(dropout), last, out)
    return model


@register_model
def resnet18(
    pretrained: bool = False, age_mean: float = 33.0, age_std: float = 20.0, dropout: float = 0.0,
    input_size: int = 128,  # any side works (global pooling); kept so every checkpoint states it
    head: str = "regression",
) -> nn.Module:
    return _resnet("resnet18", pretrained, age_mean, age_std, dropout, head)


@register_model
def resnet50(
    pretrained: bool = False, age_mean: float = 33.0, age_std: float = 20.0, dropout: float = 0.0,
    input_size: int = 128,  # any side works (global pooling); kept so every checkpoint states it
    head: str = "regression",
) -> nn.Module:
    return _resnet("resnet50", pretrained, age_mean, age_std, dropout, head)
