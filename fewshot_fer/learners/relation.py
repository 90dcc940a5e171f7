"""Relation networks (Sung, Yang, Zhang, Xiang, Torr & Hospedales, CVPR 2018)."""

from __future__ import annotations

import torch
from torch import nn

from .base import FewShotLearner, check_support_labels, register_learner
from .protonet import class_means


class RelationModule(nn.Module):
    """Scores a (class, query) pair of feature maps: ``[P, 2C, h, w]`` -> ``[P]`` raw relation
    scores. Two 3x3 conv blocks (padding keeps the small maps of 48-pixel faces), global average
    pooling, then a two-layer MLP, as in the paper but without its pooling layers."""

    def __init__(self, channels: int, hidden: int = 8) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(2 * channels, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.convs(pairs)).squeeze(-1)


@register_learner("relationnet")
class RelationNetwork(FewShotLearner):
    """A learned metric: each class's support feature maps are averaged, concatenated with each
    query's feature maps along channels, and the relation module scores the pair.

    Logits are the raw relation scores ``[n_query, n_way]``; ``sigmoid(logits)`` is the relation
    in 0..1. ``objective="mse"`` regresses it onto the one-hot target as in the paper;
    ``"ce"`` uses cross-entropy on the logits.
    """

    episode_independent_embedding = True

    def __init__(self, backbone: nn.Module, objective: str = "mse", hidden: int = 8) -> None:
        super().__init__(backbone)
        if objective not in ("mse", "ce"):
            raise ValueError(f"objective must be 'mse' or 'ce', got {objective!r}.")
        self.objective = objective
        self.relation = RelationModule(backbone.out_channels, hidden)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C_in, H, W]`` -> feature maps ``[B, C, h, w]`` (kept spatial for the relation module)."""
        return self.backbone(x)

    def score(self, support_f: torch.Tensor, support_y: torch.Tensor, query_f: torch.Tensor) -> torch.Tensor:
        """``[n_support, C, h, w]``, ``[n_support]``, ``[n_query, C, h, w]`` -> ``[n_query, n_way]``."""
        n_way = check_support_labels(support_y)
        shape = support_f.shape[1:]
        classes = class_means(support_f.flatten(1), support_y, n_way).view(n_way, *shape)
        n_query = len(query_f)
        pairs = torch.cat([classes.unsqueeze(0).expand(n_query, -1, -1, -1, -1),
                           query_f.unsqueeze(1).expand(-1, n_way, -1, -1, -1)], dim=2)
        return self.relation(pairs.flatten(0, 1)).view(n_query, n_way)

    def episode_loss(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor,
                     query_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(support_x, support_y, query_x)
        if self.objective == "ce":
            return nn.functional.cross_entropy(logits, query_y), logits
        target = nn.functional.one_hot(query_y, logits.shape[1]).to(logits.dtype)
        return nn.functional.mse_loss(torch.sigmoid(logits), target), logits
