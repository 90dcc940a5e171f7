"""A supervised classifier used as a frozen feature extractor with a nearest-centroid head.

This is how the baselines (the self-training CNN, the supervised ResNet-50) enter the few-shot
benchmark: trained with ``python -m fewshot_fer.selftrain`` as ordinary classifiers, then scored
on the same fixed episodes as the meta-learners, each episode's classes being the means of the
support features.
"""

from __future__ import annotations

import torch
from torch import nn

from .protonet import PrototypicalNetwork


class CentroidBaseline(PrototypicalNetwork):
    """Backbone -> 3x3 adaptive pooling -> Dense ``hidden`` -> BN -> ReLU (the embedding
    ``[B, hidden]``) -> Dropout -> Dense ``n_classes`` (the supervised classifier of the design
    spec). Few-shot scoring: prototypical (cosine by default) on the embedding.
    """

    def __init__(self, backbone: nn.Module, n_classes: int = 7, hidden: int = 256, dropout: float = 0.3,
                 distance: str = "cosine") -> None:
        super().__init__(backbone, distance=distance)
        if n_classes < 2 or hidden < 1:
            raise ValueError(f"n_classes must be >= 2 and hidden >= 1, got {n_classes} and {hidden}.")
        self.neck = nn.Sequential(nn.AdaptiveAvgPool2d(3), nn.Flatten(),
                                  nn.Linear(backbone.out_channels * 9, hidden), nn.BatchNorm1d(hidden), nn.ReLU())
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, n_classes))
        self.n_classes = n_classes

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` -> ``[B, hidden]`` penultimate features."""
        return self.neck(self.backbone(x))

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` -> class logits ``[B, n_classes]``."""
        return self.head(self.embed(x))

    def classify_features(self, features: torch.Tensor) -> torch.Tensor:
        """Logits from precomputed embeddings (MC-dropout over the head only)."""
        return self.head(features)

