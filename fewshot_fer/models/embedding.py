"""Faces to features in batches, in eval mode: the one embedding loop behind evaluation,
pseudo-labelling and the training-mean of SimpleShot centring."""

from __future__ import annotations

import torch
from torch import nn

from ..data.transforms import to_model_input


@torch.no_grad()
def embed_all(model: nn.Module, images: torch.Tensor, device: torch.device, mean: float = 0.5,
              std: float = 0.5, batch_size: int = 512, penultimate: bool = False) -> torch.Tensor:
    """Features ``[N, D]`` of ``images`` ``[N, C, H, W]`` (uint8) in eval mode: the few-shot
    embedding (``model.embed``), or with ``penultimate`` a classifier's input (``model.penultimate``)."""
    model.eval()
    embed = model.penultimate if penultimate else model.embed
    return torch.cat([embed(to_model_input(images[i:i + batch_size].to(device), mean, std)).cpu()
                      for i in range(0, len(images), batch_size)])
