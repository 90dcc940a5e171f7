"""ResNet-12, the few-shot backbone of TADAM, MetaOptNet and FEAT (widths 64-160-320-640)."""

from __future__ import annotations

import torch
from torch import nn

from .inputs import check_input
from .registry import register_backbone


def conv_bn(in_channels: int, out_channels: int) -> list[nn.Module]:
    return [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False), nn.BatchNorm2d(out_channels)]


class ResidualBlock(nn.Module):
    """Three 3x3 conv + BN layers (LeakyReLU 0.1 between), a 1x1 conv + BN shortcut, then
    LeakyReLU and 2x2 max pooling: ``[B, C_in, H, W]`` -> ``[B, C_out, H // 2, W // 2]``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        act = nn.LeakyReLU(0.1)
        self.body = nn.Sequential(*conv_bn(in_channels, out_channels), act,
                                  *conv_bn(out_channels, out_channels), nn.LeakyReLU(0.1),
                                  *conv_bn(out_channels, out_channels))
        self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, bias=False),
                                      nn.BatchNorm2d(out_channels))
        # pooling before the (monotone) activation: same values, a quarter of the activation work
        self.out = nn.Sequential(nn.MaxPool2d(2), nn.LeakyReLU(0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.body(x) + self.shortcut(x))


@register_backbone("resnet12")
class ResNet12(nn.Module):
    """Four residual blocks; input ``[B, in_chans, H, W]`` -> ``[B, 640, H // 16, W // 16]``
    (``[B, 640, 3, 3]`` for 48x48 faces)."""

    def __init__(self, in_chans: int = 1, widths: tuple[int, ...] = (64, 160, 320, 640)) -> None:
        super().__init__()
        if in_chans <= 0 or not widths or min(widths) <= 0:
            raise ValueError(f"in_chans and widths must be positive, got {in_chans} and {widths}.")
        self.in_chans, self.out_channels = in_chans, widths[-1]
        channels = [in_chans, *widths]
        self.blocks = nn.Sequential(*[ResidualBlock(a, b) for a, b in zip(channels, channels[1:])])
        self.min_size = 2 ** len(widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_input(x, self.in_chans, self.min_size, "ResNet12")
        return self.blocks(x)

