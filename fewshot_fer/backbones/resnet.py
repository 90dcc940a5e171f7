"""ResNet-18 and ResNet-50 (He et al. 2016) from torchvision, as feature-map extractors.

The module keeps torchvision's parameter names (``conv1``, ``bn1``, ``layer1`` ... ``layer4``),
which timm's ResNets share, so weights saved by either library load directly; the classifier
(``fc``) and the global pooling are dropped. ``in_chans=1`` swaps in a one-channel stem.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from .inputs import check_input
from .registry import register_backbone

# torchvision's builder name and feature width; torchvision is imported when one is built (its
# models take two seconds to import, which every command would pay otherwise)
VARIANTS = {"resnet18": ("resnet18", 512), "resnet50": ("resnet50", 2048)}


class ResNet(nn.Module):
    """Input ``[B, in_chans, H, W]`` -> ``[B, 512 | 2048, ceil(H / 32), ceil(W / 32)]``.

    ``small_input=True`` swaps the ImageNet stem (7x7 stride-2 convolution, max-pool: 48 px faces
    shrink to 2x2 maps) for a 3x3 stride-1 convolution without pooling, as CIFAR ResNets do:
    ``[B, C, ceil(H / 8), ceil(W / 8)]``, 6x6 maps for 48 px faces (about 16x the compute).
    """

    def __init__(self, variant: str = "resnet18", in_chans: int = 1, small_input: bool = False) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {sorted(VARIANTS)}, got {variant!r}.")
        if in_chans <= 0:
            raise ValueError(f"in_chans must be positive, got {in_chans}.")
        import torchvision

        build, self.out_channels = VARIANTS[variant]
        net = getattr(torchvision.models, build)(weights=None)
        self.variant, self.in_chans, self.small_input = variant, in_chans, bool(small_input)
        if small_input:
            self.conv1 = nn.Conv2d(in_chans, 64, 3, 1, 1, bias=False)
        else:
            self.conv1 = net.conv1 if in_chans == 3 else nn.Conv2d(in_chans, 64, 7, 2, 3, bias=False)
        self.bn1, self.relu = net.bn1, net.relu
        self.maxpool = nn.Identity() if small_input else net.maxpool
        self.layer1, self.layer2, self.layer3, self.layer4 = net.layer1, net.layer2, net.layer3, net.layer4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.in_chans, 8 if self.small_input else 32, self.variant)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))


register_backbone("resnet18")(partial(ResNet, "resnet18"))
register_backbone("resnet50")(partial(ResNet, "resnet50"))
