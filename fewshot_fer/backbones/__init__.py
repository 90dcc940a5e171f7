"""Backbones: image ``[B, C, H, W]`` -> feature maps ``[B, out_channels, h, w]``.

Each backbone registers where it is defined (``@register_backbone("conv4")``, ``registry.py``);
``create_backbone`` builds one by name, or ``timm:NAME`` for any timm model. Any ``nn.Module``
mapping images to features can also be given to ``fewshot_fer.api.train(backbone=...)`` as it is.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from .conv4 import Conv4
from .pretrained import load_pretrained
from .registry import BACKBONES, register_backbone
from .resnet import ResNet
from .resnet12 import ResNet12
from .timm_backbone import PREFIX, TimmBackbone, is_fewshot_checkpoint
from .vgcnn import VGCNN


def create_backbone(name: str, in_chans: int = 1, pretrained: str | Path | None = None,
                    **options) -> nn.Module:
    """Build backbone ``name`` for ``in_chans`` input channels, optionally loading local weights.
    ``timm:NAME`` builds any timm model as a feature extractor (``TimmBackbone``)."""
    if name.startswith(PREFIX):
        path = Path(pretrained).expanduser() if pretrained else None
        if path is not None and not path.is_file():
            load_pretrained(nn.Module(), path, name)  # the one "not found; never downloaded" sentence
        own_file = path is not None and is_fewshot_checkpoint(path)
        model = TimmBackbone(name[len(PREFIX):], in_chans, None if own_file else path, **options)
        if own_file:
            load_pretrained(model, path, name)
        return model
    model = BACKBONES.build(name, in_chans=in_chans, **options)
    if pretrained:
        load_pretrained(model, pretrained, name)
    return model


__all__ = ["BACKBONES", "Conv4", "ResNet", "ResNet12", "TimmBackbone", "VGCNN", "create_backbone", "load_pretrained",
           "register_backbone"]
