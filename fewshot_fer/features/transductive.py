"""Transductive refinement (soft k-means, Ren et al. 2018): the class prototypes move towards the
unlabelled queries of the same episode, each query weighted by its class probabilities. Uses only
the episode's own faces; a row that uses it is transductive and is labelled so."""

from __future__ import annotations

from typing import Callable

import torch


def refine_prototypes(support_f: torch.Tensor, support_y: torch.Tensor, query_f: torch.Tensor,
                      query_w: torch.Tensor) -> torch.Tensor:
    """One soft k-means step: each prototype ``[n_way, D]`` becomes the mean of its support
    features and the query features ``[n_query, D]`` weighted by their class probabilities
    ``query_w`` ``[n_query, n_way]``."""
    one_hot = torch.nn.functional.one_hot(support_y, query_w.shape[1]).to(support_f.dtype)
    weights = torch.cat([one_hot, query_w])  # [n_support + n_query, n_way]
    return (weights.T @ torch.cat([support_f, query_f])) / weights.sum(0).unsqueeze(1)


def soft_kmeans(prototypes: torch.Tensor, support_f: torch.Tensor, support_y: torch.Tensor, query_f: torch.Tensor,
                logits: Callable[[torch.Tensor], torch.Tensor], steps: int) -> torch.Tensor:
    """``steps`` refinements of ``prototypes`` ``[n_way, D]``; ``logits(prototypes)`` gives the
    queries' logits ``[n_query, n_way]`` against them."""
    for _ in range(steps):
        prototypes = refine_prototypes(support_f, support_y, query_f, logits(prototypes).softmax(-1))
    return prototypes
