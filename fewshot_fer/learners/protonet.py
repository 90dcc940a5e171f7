"""Prototypical networks (Snell, Swersky & Zemel, NeurIPS 2017)."""

from __future__ import annotations

import torch
from torch import nn

from .base import FewShotLearner, check_support_labels


def class_means(features: torch.Tensor, labels: torch.Tensor, n_way: int) -> torch.Tensor:
    """Per-class mean of ``features`` ``[N, D]`` with ``labels`` ``[N]`` -> ``[n_way, D]``."""
    one_hot = torch.nn.functional.one_hot(labels, n_way).to(features.dtype)  # [N, n_way]
    return (one_hot.T @ features) / one_hot.sum(0).unsqueeze(1)


def squared_euclidean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``[N, D]`` x ``[M, D]`` -> ``[N, M]`` squared Euclidean distances."""
    return (a.unsqueeze(1) - b.unsqueeze(0)).pow(2).sum(-1)


class PrototypicalNetwork(FewShotLearner):
    """Logits are negative squared Euclidean distances from each query embedding to the class
    prototypes (means of the support embeddings).

    With ``distance="cosine"``, logits are cosine similarities times a learned temperature.
    """

    episode_independent_embedding = True

    def __init__(self, backbone: nn.Module, distance: str = "euclidean", temperature: float = 10.0) -> None:
        super().__init__(backbone)
        if distance not in ("euclidean", "cosine"):
            raise ValueError(f"distance must be 'euclidean' or 'cosine', got {distance!r}.")
        self.distance = distance
        if distance == "cosine":
            self.log_temperature = nn.Parameter(torch.tensor(float(temperature)).log())

    def score(self, support_f: torch.Tensor, support_y: torch.Tensor, query_f: torch.Tensor) -> torch.Tensor:
        """``[n_support, D]``, ``[n_support]``, ``[n_query, D]`` -> logits ``[n_query, n_way]``."""
        prototypes = class_means(support_f, support_y, check_support_labels(support_y))
        if self.distance == "cosine":
            sim = nn.functional.normalize(query_f, dim=-1) @ nn.functional.normalize(prototypes, dim=-1).T
            return sim * self.log_temperature.exp()
        return -squared_euclidean(query_f, prototypes)
