"""The test-time steps on features before nearest-centroid scoring, composed in their one
sensible order: centre on the training mean (``centring``), signed power (``power``), unit
length (``l2``). SimpleShot's "CL2N" is centre and l2; PT-MAP's preprocessing is power 0.5 and l2.
Any learner with an embedding can hold a ``FeatureSteps`` and apply it to support and query
features (``PrototypicalNetwork`` and ``CentroidBaseline`` do, from their options)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .centring import CentreOnMean
from .l2 import L2Normalise
from .power import SignedPower


class FeatureSteps(nn.Module):
    """``[N, D]`` -> ``[N, D]``: centring (when ``centre``), then ``SignedPower(power)`` (1, the
    default, is off), then ``L2Normalise`` (when ``l2``)."""

    def __init__(self, centre: bool = False, l2: bool = False, power: float = 1.0) -> None:
        super().__init__()
        self.centring = CentreOnMean(centre)
        self.power = SignedPower(power)
        self.l2 = L2Normalise() if l2 else nn.Identity()

    @property
    def needs_mean(self) -> bool:
        return self.centring.enabled

    def set_mean(self, mean: torch.Tensor) -> None:
        """Centre on ``mean`` ``[D]`` from now on (saved with the model)."""
        self.centring.set_mean(mean)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.l2(self.power(self.centring(features)))

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
        # checkpoints written before the steps were split keep the mean at ``<prefix>mean``
        if prefix + "mean" in state_dict:
            state_dict[prefix + "centring.mean"] = state_dict.pop(prefix + "mean")
        super()._load_from_state_dict(state_dict, prefix, *args)
