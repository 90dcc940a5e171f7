"""Centring on a mean feature (SimpleShot, Wang et al. 2019): subtract the mean embedding of the
training classes from every feature, so that distances compare what is particular to a face
rather than what all faces share. The mean is a buffer saved with the model; it is set by
``pretrain`` from training faces, or at evaluation from the faces a model was trained on
(``fewshot_fer/models/training_mean.py``), or by the user (``set_mean``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class CentreOnMean(nn.Module):
    """``[N, D]`` -> ``[N, D]``: ``features - mean``; off (the identity) unless ``enabled``."""

    def __init__(self, enabled: bool = True) -> None:
        super().__init__()
        self.enabled = bool(enabled)
        # empty until set: its size is the feature size, known only once features are seen
        self.register_buffer("mean", torch.zeros(0), persistent=self.enabled)

    def set_mean(self, mean: torch.Tensor) -> None:
        """Store the mean feature ``[D]`` and centre on it from now on (it is saved with the model)."""
        self.enabled = True
        self.register_buffer("mean", mean.detach().reshape(-1).to(self.mean.device, torch.float32).clone(),
                             persistent=True)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if not self.enabled:
            return features
        if self.mean.numel() == 0:
            raise ValueError("centre=true needs the mean feature of the training classes, which this "
                             "model does not hold yet; it is set by python -m fewshot_fer.pretrain / train "
                             "(or learner.set_feature_mean(...)).")
        if self.mean.numel() != features.shape[-1]:
            raise ValueError(f"the stored training mean has {self.mean.numel()} values but the features "
                             f"have {features.shape[-1]}; was the model trained at another image size?")
        return features - self.mean.to(features.dtype)

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, local_metadata: Any, strict: bool,
                              missing_keys: list[str], unexpected_keys: list[str], error_msgs: list[str]) -> None:
        # the stored mean decides the buffer's size (it is empty in a freshly built model); it is
        # optional both ways: a model centred only at evaluation gets it later (set_mean), and a
        # model built without centring ignores one stored by its training
        key = prefix + "mean"
        if self.enabled and key in state_dict:
            self.mean = torch.empty_like(state_dict[key])
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        for keys in (missing_keys, unexpected_keys):
            if key in keys:
                keys.remove(key)
