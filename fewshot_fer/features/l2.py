"""L2 normalisation: every feature scaled to unit length, so that a distance compares directions
(SimpleShot's last step; with it, the Euclidean distance ranks as the cosine does)."""

from __future__ import annotations

import torch
from torch import nn


class L2Normalise(nn.Module):
    """``[N, D]`` -> ``[N, D]`` of unit length (a zero vector stays zero)."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(features, dim=-1)
