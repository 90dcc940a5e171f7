"""Centring on a mean the episode itself gives, a test-time adaptation to a new domain that uses
only the episode's own faces: the mean feature of its support set (``support``: inductive, the
queries are classified one by one) or of its support and query faces together (``episode``:
transductive, report such scores apart). Unlike ``centring`` (the training classes' mean, fixed
with the model), the mean moves with the camera, lighting and people of each episode."""

from __future__ import annotations

import torch
from torch import nn

EPISODE_MEANS = ("off", "support", "episode")


class CentreOnEpisode(nn.Module):
    """``(support [S, D], query [Q, D])`` -> both minus the mean of ``source``'s features."""

    def __init__(self, source: str = "off") -> None:
        super().__init__()
        if source not in EPISODE_MEANS:
            raise ValueError(f"centre_episode must be one of {', '.join(EPISODE_MEANS)}, got {source!r}.")
        self.source = source

    def forward(self, support: torch.Tensor, query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.source == "off":
            return support, query
        faces = support if self.source == "support" else torch.cat([support, query])
        mean = faces.mean(0, keepdim=True)
        return support - mean, query - mean
