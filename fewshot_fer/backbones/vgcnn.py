"""The self-training CNN of the FER2013 study (the baseline of the design spec), as a backbone.

Blocks: [Conv 256 -> Conv 512 -> BN -> MaxPool -> Dropout 0.4], then [Conv 384], [Conv 192],
[Conv 384], each -> BN -> MaxPool -> Dropout 0.4. Convolutions are 3x3 with ReLU. The classifier
head (Dense 256 -> BN -> Dropout 0.3 -> Dense n) belongs to the supervised baseline, not here.
``width`` scales every channel count, so a narrow copy trains on a 2-core CPU.
"""

from __future__ import annotations

import torch
from torch import nn

from .inputs import check_input
from .registry import register_backbone

CHANNELS = ((256, 512), (384,), (192,), (384,))


def conv_relu(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.ReLU(inplace=True)]


@register_backbone("vgcnn")
class VGCNN(nn.Module):
    """Input ``[B, in_chans, H, W]`` -> ``[B, 384 * width, H // 16, W // 16]`` (``[B, 384, 3, 3]``
    for 48x48 faces at full width)."""

    def __init__(self, in_chans: int = 1, width: float = 1.0, dropout: float = 0.4) -> None:
        super().__init__()
        if in_chans <= 0 or width <= 0:
            raise ValueError(f"in_chans and width must be positive, got {in_chans} and {width}.")
        self.in_chans, layers, c = in_chans, [], in_chans
        for block in CHANNELS:
            for out in block:
                layers += conv_relu(c, max(1, round(out * width)))
                c = max(1, round(out * width))
            layers += [nn.BatchNorm2d(c), nn.MaxPool2d(2), nn.Dropout(dropout)]
        self.features = nn.Sequential(*layers)
        self.out_channels = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.in_chans, 16, "VGCNN")
        return self.features(x)
