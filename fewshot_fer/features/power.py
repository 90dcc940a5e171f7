"""Power normalisation (Perronnin et al. 2010; the transform PT-MAP applies to ReLU features):
every feature value to a power below 1, sign kept, which evens out features that a few large
activations dominate."""

from __future__ import annotations

import torch
from torch import nn


class SignedPower(nn.Module):
    """``[N, D]`` -> ``[N, D]``: ``sign(x) * |x| ** power``; ``power`` 1 is the identity, 0.5 PT-MAP's
    square root."""

    def __init__(self, power: float = 0.5) -> None:
        super().__init__()
        if not (isinstance(power, (int, float)) and not isinstance(power, bool) and power > 0):
            raise ValueError(f"power must be a number > 0 (1 is off, 0.5 a square root), got {power!r}.")
        self.power = float(power)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if self.power == 1.0:
            return features
        return features.sign() * features.abs().pow(self.power)
