"""Choosing pseudo-labels from stochastic (MC-dropout) predictions.

``probs`` everywhere is ``[T, N, n_classes]``: T stochastic passes over N unlabeled faces. The
soft vote is the mean over passes; its arg-max is the pseudo-label and its maximum the confidence.
"""

from __future__ import annotations

import torch

SELECTIONS = ("confidence", "variance", "bald")


def entropy(p: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) over the last dimension."""
    return -(p * p.clamp_min(1e-12).log()).sum(-1)


def bald(probs: torch.Tensor) -> torch.Tensor:
    """``[N]`` mutual information between prediction and weights (Houlsby et al. 2011): the entropy
    of the mean prediction minus the mean entropy of the passes. Low = the passes agree."""
    return entropy(probs.mean(0)) - entropy(probs).mean(0)


def vote(probs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Soft vote: ``(labels [N], confidence [N], variance [N])``, the variance being that of the
    winning class's probability across the passes."""
    mean = probs.mean(0)
    confidence, labels = mean.max(-1)
    variance = probs.gather(2, labels.view(1, -1, 1).expand(probs.shape[0], -1, 1)).squeeze(-1).var(0, unbiased=False)
    return labels, confidence, variance


def select(probs: torch.Tensor, threshold: float = 0.95, selection: str = "confidence",
           class_cap: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``[M]`` of the faces to pseudo-label and their labels ``[M]``.

    Faces whose soft-vote confidence is below ``threshold`` are dropped. Within each class the rest
    are ranked (``confidence``: most confident first; ``variance``: lowest variance first; ``bald``:
    lowest BALD first) and at most ``class_cap`` are kept, so one expression cannot dominate.
    """
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}.")
    if not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be in 0..1, got {threshold}.")
    labels, confidence, variance = vote(probs)
    key = {"confidence": -confidence, "variance": variance, "bald": bald(probs)}[selection]
    keep = []
    for c in torch.unique(labels).tolist():
        idx = ((labels == c) & (confidence >= threshold)).nonzero().flatten()
        idx = idx[torch.argsort(key[idx], stable=True)]
        keep.append(idx[:class_cap] if class_cap is not None else idx)
    chosen = torch.sort(torch.cat(keep)).values if keep else torch.zeros(0, dtype=torch.long)
    return chosen, labels[chosen]
