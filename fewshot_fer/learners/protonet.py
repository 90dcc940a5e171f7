"""Prototypical networks (Snell, Swersky & Zemel, NeurIPS 2017)."""

from __future__ import annotations

import torch
from torch import nn

from .base import FewShotLearner, check_support_labels
from .distances import check_distance, similarity


def class_means(features: torch.Tensor, labels: torch.Tensor, n_way: int) -> torch.Tensor:
    """Per-class mean of ``features`` ``[N, D]`` with ``labels`` ``[N]`` -> ``[n_way, D]``."""
    one_hot = torch.nn.functional.one_hot(labels, n_way).to(features.dtype)  # [N, n_way]
    return (one_hot.T @ features) / one_hot.sum(0).unsqueeze(1)


class PrototypicalNetwork(FewShotLearner):
    """Logits are similarities of each query embedding to the class prototypes (means of the
    support embeddings), times a scale.

    ``distance``: ``euclidean`` (default, ``-|q - p|``, as easyfsl), ``squared``
    (``-|q - p|^2``, Snell et al.'s choice) or ``cosine``. ``temperature`` multiplies the
    similarity: fixed for the distances (default 1), learned for cosine (initial value, default 10).
    """

    episode_independent_embedding = True

    def __init__(self, backbone: nn.Module, distance: str = "euclidean", temperature: float | None = None) -> None:
        super().__init__(backbone)
        self.distance = check_distance(distance)
        if temperature is None:
            temperature = 10.0 if distance == "cosine" else 1.0
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}.")
        if distance == "cosine":
            self.log_temperature = nn.Parameter(torch.tensor(float(temperature)).log())
        else:
            self.register_buffer("log_temperature", torch.tensor(float(temperature)).log(), persistent=False)

    def score(self, support_f: torch.Tensor, support_y: torch.Tensor, query_f: torch.Tensor) -> torch.Tensor:
        """``[n_support, D]``, ``[n_support]``, ``[n_query, D]`` -> logits ``[n_query, n_way]``."""
        prototypes = class_means(support_f, support_y, check_support_labels(support_y))
        return similarity(query_f, prototypes, self.distance) * self.log_temperature.exp()
