"""Scoring a learner on fixed episodes, per episode or from cached features."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn
from tqdm import tqdm

from episodes import make_episode

from ..data.base import FaceDataset
from ..data.transforms import to_model_input
from ..learners import FewShotLearner


@dataclass
class EpisodeResults:
    """What a learner predicted on each episode.

    Attributes:
        probs: ``[n_episodes, n_query_total, n_way]`` class probabilities of the queries.
        query_y: ``[n_episodes, n_query_total]`` true labels in ``0..n_way-1``.
        class_ids: ``[n_episodes, n_way]`` dataset class id of each episode label.
        query_index: ``[n_episodes, n_query_total]`` dataset index of each query.
    """

    probs: torch.Tensor
    query_y: torch.Tensor
    class_ids: torch.Tensor
    query_index: torch.Tensor

    @property
    def accuracies(self) -> torch.Tensor:
        """``[n_episodes]`` share of queries classified correctly."""
        return (self.probs.argmax(-1) == self.query_y).double().mean(1)

    def confusion(self, n_classes: int) -> torch.Tensor:
        """``[n_classes, n_classes]`` counts over all queries: row = true class, column = predicted
        class (dataset class ids)."""
        true = self.class_ids.gather(1, self.query_y)
        pred = self.class_ids.gather(1, self.probs.argmax(-1))
        return torch.bincount(true.flatten() * n_classes + pred.flatten(),
                              minlength=n_classes * n_classes).view(n_classes, n_classes)

    def group_accuracies(self, groups: torch.Tensor, how: str = "mean") -> torch.Tensor:
        """``[n_episodes]`` accuracy when the queries of one group (an AFEW clip) vote (``clip_vote``
        ``how``: soft ``mean`` or ``majority``); every group counts once."""
        out = torch.empty(len(self.probs), dtype=torch.float64)
        for e in range(len(self.probs)):
            ids, inverse = torch.unique(groups[self.query_index[e]], return_inverse=True)
            label = torch.zeros(len(ids), dtype=torch.long).scatter_(0, inverse, self.query_y[e])
            out[e] = (clip_vote(self.probs[e], inverse, len(ids), how).argmax(-1) == label).double().mean()
        return out


CLIP_VOTES = ("mean", "majority")
CLIP_VOTE_HELP = ("how a clip's frames decide its expression: mean (soft voting: the mean of their probabilities) "
                  "or majority (the most frequent per-frame prediction; a tie goes to the higher mean probability)")


def clip_vote(probs: torch.Tensor, inverse: torch.Tensor, n_groups: int, how: str = "mean") -> torch.Tensor:
    """Scores ``[n_groups, n_classes]`` whose arg-max is each group's prediction, from frame
    probabilities ``probs`` ``[N, n_classes]`` and each frame's group ``inverse`` ``[N]``: the mean
    probability (``mean``), or the share of frames predicting each class (``majority``) plus a
    tie-break below one frame's share (half the mean probability over the frame count)."""
    if how not in CLIP_VOTES:
        raise ValueError(f"clip vote must be one of {', '.join(CLIP_VOTES)}, got {how!r}.")
    frames = torch.zeros(n_groups, dtype=probs.dtype).index_add_(0, inverse, torch.ones_like(inverse, dtype=probs.dtype))
    mean = torch.zeros(n_groups, probs.shape[-1], dtype=probs.dtype).index_add_(0, inverse, probs) / frames[:, None]
    if how == "mean":
        return mean
    picks = nn.functional.one_hot(probs.argmax(-1), probs.shape[-1]).to(probs.dtype)
    shares = torch.zeros_like(mean).index_add_(0, inverse, picks) / frames[:, None]
    return shares + mean * (0.5 / frames[:, None])


@torch.no_grad()
def embed_items(learner: FewShotLearner, dataset: FaceDataset, indices: torch.Tensor,
                device: torch.device, mean: float, std: float, batch_size: int = 128) -> torch.Tensor:
    """Features ``[len(indices), D]`` of the given items, computed in batches. Batches of 128
    keep the first Conv-4 block's activations near 75 MB at 48 px (512 needed ~0.5 GB more) at
    the same speed."""
    out = []
    for part in torch.split(indices, batch_size):
        x = to_model_input(dataset.images[part].to(device), mean, std)
        out.append(learner.embed(x))
    return torch.cat(out)


def features_of(learner: FewShotLearner, dataset: FaceDataset, indices: torch.Tensor, device: torch.device,
                mean: float, std: float, known: dict[int, torch.Tensor] | None) -> torch.Tensor:
    """``embed_items``, embedding only the items not already in ``known`` (then adding them)."""
    if known is None:
        return embed_items(learner, dataset, indices, device, mean, std)
    missing = [i for i in indices.tolist() if i not in known]
    if missing:
        known.update(zip(missing, embed_items(learner, dataset, torch.tensor(missing), device, mean, std)))
    return torch.stack([known[i] for i in indices.tolist()])


@torch.no_grad()
def evaluate_episodes(learner: FewShotLearner, dataset: FaceDataset, episodes: Sequence[Sequence[int]],
                      n_way: int, k_shot: int, n_query: int, device: torch.device | str = "cpu",
                      mean: float = 0.5, std: float = 0.5, use_feature_cache: bool = True,
                      known_features: dict[int, torch.Tensor] | None = None) -> EpisodeResults:
    """Predictions on every episode (index lists in sampler order).

    With ``use_feature_cache`` and a learner whose embedding is episode-independent, every
    distinct image is embedded once and the episodes are scored from the cached features;
    otherwise each episode runs the full forward pass. ``known_features`` (item index -> ``[D]``)
    carries features between calls with the same learner and dataset (``evaluate``'s shots): only
    items not in it are embedded, and they are added to it. The learner is put in eval mode (batch
    norm uses its running statistics unless the learner documents otherwise) and restored after.
    """
    device = torch.device(device)
    was_training = learner.training
    learner.eval()
    try:
        index = torch.as_tensor([list(e) for e in episodes], dtype=torch.long)
        if index.numel() == 0:
            raise ValueError("no episodes to evaluate.")
        labels = dataset.labels[index]
        cached = use_feature_cache and learner.episode_independent_embedding
        if cached:
            unique, inverse = torch.unique(index, return_inverse=True)
            features = features_of(learner, dataset, unique, device, mean, std, known_features)
        probs, query_y, class_ids = [], [], []
        # a progress bar for a person at a terminal only (disable=None: off when stderr is not a TTY)
        for e in tqdm(range(len(index)), desc="scoring episodes", unit="episode", leave=False, disable=None):
            if cached:
                ep = make_episode(features[inverse[e]], labels[e], n_way, k_shot, n_query)
                logits = learner.score(ep.support_x, ep.support_y.to(device), ep.query_x)
            else:
                x = to_model_input(dataset.images[index[e]].to(device), mean, std)
                ep = make_episode(x, labels[e], n_way, k_shot, n_query)
                logits = learner(ep.support_x, ep.support_y.to(device), ep.query_x)
            probs.append(logits.float().softmax(-1).cpu())
            query_y.append(ep.query_y)
            class_ids.append(ep.class_ids)
        return EpisodeResults(torch.stack(probs), torch.stack(query_y), torch.stack(class_ids),
                              index[:, n_way * k_shot:])
    finally:
        learner.train(was_training)


def soft_vote(probs: Sequence[torch.Tensor]) -> torch.Tensor:
    """Mean of probability tables of one shape (``[N, n_classes]``, or ``[n_episodes,
    n_query_total, n_way]``) -> the same shape: the soft vote of several models."""
    return torch.stack(list(probs)).mean(0)


def vote_episodes(results: Sequence[EpisodeResults]) -> EpisodeResults:
    """Several models' predictions on the same episodes -> their soft vote (mean probabilities)."""
    first = results[0]
    for r in results[1:]:
        if not (torch.equal(r.query_y, first.query_y) and torch.equal(r.class_ids, first.class_ids)
                and torch.equal(r.query_index, first.query_index)):
            raise ValueError("the models were scored on different episodes; a vote needs the same ones.")
    return EpisodeResults(soft_vote([r.probs for r in results]), first.query_y, first.class_ids, first.query_index)


def episode_accuracies(learner: FewShotLearner, dataset: FaceDataset, episodes: Sequence[Sequence[int]],
                       n_way: int, k_shot: int, n_query: int, device: torch.device | str = "cpu",
                       mean: float = 0.5, std: float = 0.5, use_feature_cache: bool = True) -> torch.Tensor:
    """Accuracy of each episode, ``[n_episodes]`` (see ``evaluate_episodes``)."""
    return evaluate_episodes(learner, dataset, episodes, n_way, k_shot, n_query, device, mean, std,
                             use_feature_cache).accuracies
