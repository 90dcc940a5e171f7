"""FEAT: few-shot embedding adaptation with a set-to-set transformer (Ye, Hu, Zhan & Sha, CVPR 2020)."""

from __future__ import annotations

import torch
from torch import nn

from .base import FewShotLearner, check_support_labels, register_learner
from .distances import check_distance, similarity
from .protonet import class_means


class SetToSet(nn.Module):
    """One transformer layer over a set: multi-head self-attention, dropout, residual, layer norm.
    ``[n_sets, set_size, D]`` -> same shape; permutation-equivariant within each set."""

    def __init__(self, dim: int, heads: int = 1, dropout: float = 0.1) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"feature size {dim} must be divisible by the number of heads {heads}.")
        self.attention = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(dim)

    def forward(self, sets: torch.Tensor) -> torch.Tensor:
        out, _ = self.attention(sets, sets, sets, need_weights=False)
        return self.norm(sets + self.dropout(out))


@register_learner("feat")
class FEAT(FewShotLearner):
    """Prototypes (class means of globally pooled features ``[n_way, D]``) are adapted to the
    episode by a set-to-set transformer, then queries are scored against the adapted prototypes by
    ``distance`` (``euclidean``, ``squared`` or ``cosine``; ``distances.similarity``) times a
    learned scale.

    With ``contrastive > 0`` training adds FEAT's auxiliary term: each class's support and query
    embeddings are transformed as one set, and every embedding is classified against the centres
    of those sets; the term is weighted by ``contrastive``.
    """

    episode_independent_embedding = True

    def __init__(self, backbone: nn.Module, heads: int = 1, dropout: float = 0.1,
                 distance: str = "euclidean", contrastive: float = 0.1) -> None:
        super().__init__(backbone)
        check_distance(distance)
        if contrastive < 0:
            raise ValueError(f"contrastive weight must be >= 0, got {contrastive}.")
        self.distance, self.contrastive = distance, contrastive
        self.set_to_set = SetToSet(backbone.out_channels, heads, dropout)
        # learned logit scale: pooled features have small distances, a fixed scale would be arbitrary
        self.log_scale = nn.Parameter(torch.tensor(2.3 if distance == "cosine" else 0.0))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C_in, H, W]`` -> globally average-pooled features ``[B, D]``."""
        return self.backbone(x).mean(dim=(-2, -1))

    def logits(self, query_f: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
        return similarity(query_f, centres, self.distance) * self.log_scale.exp()

    def adapted_prototypes(self, support_f: torch.Tensor, support_y: torch.Tensor) -> torch.Tensor:
        """``[n_support, D]`` -> adapted prototypes ``[n_way, D]``."""
        prototypes = class_means(support_f, support_y, check_support_labels(support_y))
        return self.set_to_set(prototypes.unsqueeze(0)).squeeze(0)

    def score(self, support_f: torch.Tensor, support_y: torch.Tensor, query_f: torch.Tensor) -> torch.Tensor:
        """``[n_support, D]``, ``[n_support]``, ``[n_query, D]`` -> logits ``[n_query, n_way]``."""
        return self.logits(query_f, self.adapted_prototypes(support_f, support_y))

    def contrastive_logits(self, features: torch.Tensor, labels: torch.Tensor, n_way: int) -> torch.Tensor:
        """Each class's embeddings transformed as one set; every embedding ``[N, D]`` scored against
        the set centres -> ``[N, n_way]``."""
        centres = torch.stack([self.set_to_set(features[labels == c].unsqueeze(0)).squeeze(0).mean(0)
                               for c in range(n_way)])
        return self.logits(features, centres)

    def episode_loss(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor,
                     query_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.embed(torch.cat([support_x, query_x]))
        support_f, query_f = features[: len(support_x)], features[len(support_x):]
        logits = self.score(support_f, support_y, query_f)
        loss = nn.functional.cross_entropy(logits, query_y)
        if self.contrastive > 0:
            labels = torch.cat([support_y, query_y])
            aux = self.contrastive_logits(features, labels, logits.shape[1])
            loss = loss + self.contrastive * nn.functional.cross_entropy(aux, labels)
        return loss, logits
