"""Backbones: image ``[B, C, H, W]`` -> feature maps ``[B, out_channels, h, w]``."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..registry import Registry
from .conv4 import Conv4
from .pretrained import load_pretrained

BACKBONES: Registry = Registry("backbone")


@BACKBONES.register("conv4")
def conv4(in_chans: int = 1, **kwargs) -> nn.Module:
    return Conv4(in_chans=in_chans, **kwargs)


def create_backbone(name: str, in_chans: int = 1, pretrained: str | Path | None = None,
                    **kwargs) -> nn.Module:
    """Build backbone ``name`` for ``in_chans`` input channels, optionally loading local weights."""
    model = BACKBONES.get(name)(in_chans=in_chans, **kwargs)
    if pretrained:
        load_pretrained(model, pretrained, name)
    return model


__all__ = ["BACKBONES", "Conv4", "create_backbone", "load_pretrained"]
