"""Compact age models built on MobileNetV2's inverted-residual blocks.

SimpleCNN spends ~8.4M of its 8.8M weights on one FC layer and ~0.25 GMACs on full-resolution
3x3 convolutions. ``mobilenetv2_age`` keeps the first 14 blocks of torchvision's MobileNetV2
(up to the 96-channel stage, stride 16: 0.54M weights), adds a 1x1 conv, global average pooling
and one linear unit, and runs on 64x64 crops (as SSR-Net and C3AE do): ~17 MMACs, 0.85 MB as int8
TFLite. Measured with untrained exports (``edge-age bench``, 1 thread, int8 TFLite): 0.64 ms at
64 px, 1.69 ms at 96 px, 2.50 ms at 128 px, against 5.67 ms for int8 SimpleCNN in the same run --
only 64 px clears the 5x latency target. The later
160/320/1280-channel stages hold 1.7M of MobileNetV2's 2.2M weights for ImageNet's 1000 classes;
one regression output does not need them.

``pretrained=True`` starts the kept blocks from torchvision's ImageNet weights, read offline from
the torch hub cache (``mobilenet_v2-b0353104.pth``); nothing is downloaded at run time.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torchvision

from edge_age.models.registry import age_output, init_age_output, register_model
from edge_age.models.resnet import _weights_available


class MobileNetV2Age(nn.Module):
    def __init__(self, blocks: int, head_channels: int, pretrained: bool, dropout: float,
                 age_mean: float, age_std: float, head: str = "regression") -> None:
        super().__init__()
        weights = None
        if pretrained:
            weights = torchvision.models.MobileNet_V2_Weights.IMAGENET1K_V1
            _weights_available(weights)
        trunk = torchvision.models.mobilenet_v2(weights=weights)
        self.features = trunk.features[:blocks]
        c_in = [m for m in self.features.modules() if isinstance(m, nn.Conv2d)][-1].out_channels
        last, out = age_output(head_channels, head, age_mean, age_std)
        self.head = nn.Sequential(
            nn.Conv2d(c_in, head_channels, 1, bias=False),
            nn.BatchNorm2d(head_channels),
            nn.ReLU6(inplace=True),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            last,
            out,
        )
        nn.init.kaiming_normal_(self.head[0].weight, mode="fan_out")
        init_age_output(last, out, age_mean, age_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


@register_model(input_size=64)
def mobilenetv2_age(
    pretrained: bool = False, blocks: int = 14, head_channels: int = 256, dropout: float = 0.2,
    age_mean: float = 33.0, age_std: float = 20.0, head: str = "regression",
    input_size: int = 64,  # any side works (global pooling); kept so every checkpoint states it
) -> nn.Module:
    """MobileNetV2 cut after ``blocks`` feature blocks (14: the 96-channel stage) + 1x1 conv + GAP + linear.

    ``head="distribution"`` ends in 121 one-year logits and their softmax expectation (DLDL).
    """
    return MobileNetV2Age(blocks, head_channels, pretrained, dropout, age_mean, age_std, head)


@register_model(input_size=128)
def mobilenetv2(
    pretrained: bool = False, blocks: int = 18, head_channels: int = 512, dropout: float = 0.2,
    age_mean: float = 33.0, age_std: float = 20.0, head: str = "regression",
    input_size: int = 128,  # any side works (global pooling); kept so every checkpoint states it
) -> nn.Module:
    """The whole MobileNetV2 trunk (all 17 inverted-residual blocks, up to 320 channels) at 128 px.

    Too slow and too large for the compact target (2.0M weights, ~100 MMACs at 128 px); it is the
    float teacher that ``--teacher`` distils into ``mobilenetv2_age``: of the architectures here, only
    MobileNetV2 has an ImageNet start (no ImageNet ResNet weights exist here).
    """
    return MobileNetV2Age(blocks, head_channels, pretrained, dropout, age_mean, age_std, head)
