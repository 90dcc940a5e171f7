"""Feature normalisation before nearest-centroid scoring (SimpleShot, Wang et al. 2019).

``centre`` subtracts the mean feature of the training classes (a buffer stored with the model, set
by ``python -m fewshot_fer.pretrain`` from training images, or at evaluation, ``--learner-option
centre=true``, from the faces the model was trained on: ``fewshot_fer/features/centring.py``); ``power`` then raises
every value to that power, keeping its sign (``sign(x) |x|^power``: Perronnin et al.'s power
normalisation, the transform PT-MAP applies to ReLU features; it evens out feature values that a few
large activations dominate); ``l2`` last scales every feature to unit length. SimpleShot's "CL2N" is
centre and l2.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class FeatureNorm(nn.Module):
    """``[N, D]`` -> ``[N, D]``: optional centring on the stored training mean, optional signed
    power (``power`` 1, the default, is off), optional L2."""

    def __init__(self, centre: bool = False, l2: bool = False, power: float = 1.0) -> None:
        super().__init__()
        if not (isinstance(power, (int, float)) and not isinstance(power, bool) and power > 0):
            raise ValueError(f"power must be a number > 0 (1 is off, 0.5 a square root), got {power!r}.")
        self.centre, self.l2, self.power = bool(centre), bool(l2), float(power)
        # empty until set: its size is the feature size, known only once features are seen
        self.register_buffer("mean", torch.zeros(0), persistent=self.centre)

    @property
    def needs_mean(self) -> bool:
        return self.centre

    def set_mean(self, mean: torch.Tensor) -> None:
        """Store the mean training feature ``[D]`` and centre on it from now on (it is saved with
        the model)."""
        self.centre = True
        self.register_buffer("mean", mean.detach().reshape(-1).to(self.mean.device, torch.float32).clone(),
                             persistent=True)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if self.centre:
            if self.mean.numel() == 0:
                raise ValueError("centre=true needs the mean feature of the training classes, which this "
                                 "model does not hold yet; it is set by python -m fewshot_fer.pretrain / train "
                                 "(or learner.set_feature_mean(...)).")
            if self.mean.numel() != features.shape[-1]:
                raise ValueError(f"the stored training mean has {self.mean.numel()} values but the features "
                                 f"have {features.shape[-1]}; was the model trained at another image size?")
            features = features - self.mean.to(features.dtype)
        if self.power != 1.0:
            features = features.sign() * features.abs().pow(self.power)
        if self.l2:
            features = nn.functional.normalize(features, dim=-1)
        return features

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, local_metadata: Any, strict: bool,
                              missing_keys: list[str], unexpected_keys: list[str], error_msgs: list[str]) -> None:
        # the stored mean decides the buffer's size (it is empty in a freshly built model); it is
        # optional both ways: a model centred only at evaluation gets it later (set_mean), and a
        # model built without centring ignores one stored by its training
        key = prefix + "mean"
        if self.centre and key in state_dict:
            self.mean = torch.empty_like(state_dict[key])
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        for keys in (missing_keys, unexpected_keys):
            if key in keys:
                keys.remove(key)
