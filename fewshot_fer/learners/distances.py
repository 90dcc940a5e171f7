"""Query-to-prototype scores shared by the metric learners (ProtoNet, FEAT, the centroid baseline).

Measured on FER2013 unseen expressions (the duel, ``benchmarks/configs/duel-fer2013.yaml``): negative squared
Euclidean distances of 576-d unnormalised Conv-4 features give logits in the thousands, the
softmax saturates and training stalls; the plain Euclidean distance (what easyfsl uses, as
``-cdist``) trains. ``squared`` is kept with a multiplier ("temperature") for the metric-scaling
recipes (TADAM, FEAT) that use it.
"""

from __future__ import annotations

import torch
from torch import nn

DISTANCES = ("euclidean", "squared", "cosine")


def check_distance(distance: str) -> str:
    if distance not in DISTANCES:
        raise ValueError(f"distance must be one of {', '.join(DISTANCES)}; got {distance!r}.")
    return distance


def squared_euclidean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``[N, D]`` x ``[M, D]`` -> ``[N, M]`` squared Euclidean distances."""
    return (a.unsqueeze(1) - b.unsqueeze(0)).pow(2).sum(-1)


def euclidean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``[N, D]`` x ``[M, D]`` -> ``[N, M]`` Euclidean distances. The small floor keeps the
    gradient of the square root finite where a query equals a prototype."""
    return squared_euclidean(a, b).clamp_min(1e-12).sqrt()


def similarity(query_f: torch.Tensor, prototypes: torch.Tensor, distance: str) -> torch.Tensor:
    """Unscaled logits ``[n_query, n_way]`` of queries ``[n_query, D]`` against prototypes
    ``[n_way, D]``: ``-|q - p|`` (euclidean), ``-|q - p|^2`` (squared) or ``cos(q, p)`` (cosine)."""
    if distance == "euclidean":
        return -euclidean(query_f, prototypes)
    if distance == "squared":
        return -squared_euclidean(query_f, prototypes)
    check_distance(distance)  # the only distance left is cosine
    return nn.functional.normalize(query_f, dim=-1) @ nn.functional.normalize(prototypes, dim=-1).T
