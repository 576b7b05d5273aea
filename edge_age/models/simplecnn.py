"""SimpleCNN, exactly as the seed describes it.

Four blocks of 3x3 conv -> ReLU -> 2x2 max-pool (32/64/128/256 channels), flatten 8*8*256,
FC 512 -> ReLU -> FC 1. ``dropout`` (default 0.3, before each FC) is training-only regularisation:
the FC layer holds ~8.4M of the ~8.8M weights and overfits UTKFace without it; it adds no
parameters and is the identity at inference, so the exported network is unchanged.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from edge_age.errors import EdgeAgeError
from edge_age.models.registry import AgeScale, register_model


class SimpleCNN(nn.Module):
    def __init__(self, input_size: int = 128, dropout: float = 0.3, age_mean: float = 33.0, age_std: float = 20.0) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c_out in (32, 64, 128, 256):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        side = input_size // 16
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(side * side * 256, 512),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(512, 1),
            AgeScale(age_mean, age_std),
        )
        self._init_weights()

    def _init_weights(self) -> None:
        """He init for the ReLU layers; small last layer so training starts near the mean age.

        PyTorch's default (kaiming_uniform, a=sqrt(5)) shrinks activations ~0.58x per layer; with
        six layers and no BatchNorm the signal fades and the first epochs barely learn.
        """
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        last = self.head[-2]
        nn.init.normal_(last.weight, std=0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_model
def simplecnn(
    input_size: int = 128, dropout: float = 0.3, age_mean: float = 33.0, age_std: float = 20.0,
    pretrained: bool = False,
) -> nn.Module:
    if pretrained:
        raise EdgeAgeError("simplecnn has no pretrained weights (the seed's model trains from scratch); "
                           "drop --pretrained")
    return SimpleCNN(input_size=input_size, dropout=dropout, age_mean=age_mean, age_std=age_std)
