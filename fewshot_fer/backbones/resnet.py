"""ResNet-18 and ResNet-50 (He et al. 2016) from torchvision, as feature-map extractors.

The module keeps torchvision's parameter names (``conv1``, ``bn1``, ``layer1`` ... ``layer4``),
which timm's ResNets share, so weights saved by either library load directly; the classifier
(``fc``) and the global pooling are dropped. ``in_chans=1`` swaps in a one-channel stem.
"""

from __future__ import annotations

import torch
import torchvision
from torch import nn

from .inputs import check_input

VARIANTS = {"resnet18": (torchvision.models.resnet18, 512), "resnet50": (torchvision.models.resnet50, 2048)}


class ResNet(nn.Module):
    """Input ``[B, in_chans, H, W]`` -> ``[B, 512 | 2048, ceil(H / 32), ceil(W / 32)]``."""

    def __init__(self, variant: str = "resnet18", in_chans: int = 1) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}.")
        if in_chans <= 0:
            raise ValueError(f"in_chans must be positive, got {in_chans}.")
        build, self.out_channels = VARIANTS[variant]
        net = build(weights=None)
        self.variant, self.in_chans = variant, in_chans
        self.conv1 = net.conv1 if in_chans == 3 else nn.Conv2d(in_chans, 64, 7, 2, 3, bias=False)
        self.bn1, self.relu, self.maxpool = net.bn1, net.relu, net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.in_chans, 32, self.variant)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))
