"""Scoring a learner on fixed episodes, per episode or from cached features."""

from __future__ import annotations

from typing import Sequence

import torch

from episodes import make_episode

from ..data.base import FaceDataset
from ..data.transforms import to_model_input
from ..learners import FewShotLearner


@torch.no_grad()
def embed_items(learner: FewShotLearner, dataset: FaceDataset, indices: torch.Tensor,
                device: torch.device, mean: float, std: float, batch_size: int = 512) -> torch.Tensor:
    """Features ``[len(indices), D]`` of the given items, computed in batches."""
    out = []
    for part in torch.split(indices, batch_size):
        x = to_model_input(dataset.images[part].to(device), mean, std)
        out.append(learner.embed(x))
    return torch.cat(out)


@torch.no_grad()
def episode_accuracies(learner: FewShotLearner, dataset: FaceDataset, episodes: Sequence[Sequence[int]],
                       n_way: int, k_shot: int, n_query: int, device: torch.device | str = "cpu",
                       mean: float = 0.5, std: float = 0.5, use_feature_cache: bool = True) -> torch.Tensor:
    """Accuracy of each episode, ``[n_episodes]``.

    Episodes are index lists in sampler order. With ``use_feature_cache`` and a learner whose
    embedding is episode-independent, every distinct image is embedded once and the episodes are
    scored from the cached features; otherwise each episode runs the full forward pass. The
    learner is put in eval mode (batch norm uses its running statistics) and restored after.
    """
    device = torch.device(device)
    was_training = learner.training
    learner.eval()
    try:
        index = torch.as_tensor(list(episodes), dtype=torch.long)
        if index.numel() == 0:
            raise ValueError("no episodes to evaluate.")
        labels = dataset.labels[index]
        accs = torch.empty(len(index), dtype=torch.float64)
        if use_feature_cache and learner.episode_independent_embedding:
            unique, inverse = torch.unique(index, return_inverse=True)
            features = embed_items(learner, dataset, unique, device, mean, std)
            for e in range(len(index)):
                ep = make_episode(features[inverse[e]], labels[e], n_way, k_shot, n_query)
                logits = learner.score(ep.support_x, ep.support_y.to(device), ep.query_x)
                accs[e] = (logits.argmax(-1).cpu() == ep.query_y).double().mean()
        else:
            for e in range(len(index)):
                x = to_model_input(dataset.images[index[e]].to(device), mean, std)
                ep = make_episode(x, labels[e], n_way, k_shot, n_query)
                logits = learner(ep.support_x, ep.support_y.to(device), ep.query_x)
                accs[e] = (logits.argmax(-1).cpu() == ep.query_y).double().mean()
        return accs
    finally:
        learner.train(was_training)
