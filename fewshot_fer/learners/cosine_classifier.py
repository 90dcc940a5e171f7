"""A cosine classifier (Baseline++, Chen et al. ICLR 2019) with an additive margin (Liu et al.,
"Negative Margin Matters", ECCV 2020), the class head of supervised pre-training."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.parameter import is_lazy


class CosineClassifier(nn.Module):
    """Logits ``scale * cos(feature, w_c)`` for every class ``c``: ``[B, D]`` -> ``[B, n_classes]``.

    The class weights ``w_c`` ``[n_classes, D]`` are learned; ``D`` is read from the first batch
    (as ``nn.LazyLinear``), since flattened maps depend on the image size. Features and weights
    are compared by direction only, the geometry of the cosine prototypes that score few-shot
    episodes afterwards. ``margin`` is subtracted from the true class's cosine in training
    (``with_margin``): positive (CosFace) pulls classes apart; negative (Liu et al.) keeps the
    features of one class less tight, which transfers better to new classes.
    """

    def __init__(self, n_classes: int, scale: float = 10.0, margin: float = 0.0) -> None:
        super().__init__()
        if not scale > 0:
            raise ValueError(f"the cosine classifier's scale must be positive, got {scale}.")
        if not -1 < margin < 1:
            raise ValueError(f"the cosine classifier's margin must be in (-1, 1), got {margin}.")
        self.weight_source = nn.LazyLinear(n_classes, bias=False)
        self.scale, self.margin = float(scale), float(margin)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if is_lazy(self.weight_source.weight):  # materialise the weights at the first batch's width
            self.weight_source(features)
        weight = nn.functional.normalize(self.weight_source.weight, dim=-1)
        return self.scale * nn.functional.normalize(features, dim=-1) @ weight.T

    def with_margin(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The training logits: ``logits`` ``[B, n_classes]`` with ``scale * margin`` taken off
        each row's true class ``labels`` ``[B]``."""
        if not self.margin:
            return logits
        return logits - self.scale * self.margin * nn.functional.one_hot(labels, logits.shape[-1]).to(logits.dtype)
