"""Prototypical networks (Snell, Swersky & Zemel, NeurIPS 2017)."""

from __future__ import annotations

import torch
from torch import nn

from ..features import CentreOnEpisode, FeatureSteps, TestTimeViews, soft_kmeans
from ..features.views import MAX_SHIFT
from .base import MAX_STEPS, FewShotLearner, check_support_labels, register_learner
from .distances import check_distance, similarity


def class_means(features: torch.Tensor, labels: torch.Tensor, n_way: int) -> torch.Tensor:
    """Per-class mean of ``features`` ``[N, D]`` with ``labels`` ``[N]`` -> ``[n_way, D]``."""
    one_hot = torch.nn.functional.one_hot(labels, n_way).to(features.dtype)  # [N, n_way]
    return (one_hot.T @ features) / one_hot.sum(0).unsqueeze(1)


@register_learner("protonet")
class PrototypicalNetwork(FewShotLearner):
    """Logits are similarities of each query embedding to the class prototypes (means of the
    support embeddings), times a scale.

    Options (``--learner-option``):

    - ``distance``: ``euclidean`` (default, ``-|q - p|``, as easyfsl), ``squared``
      (``-|q - p|^2``, Snell et al.'s choice) or ``cosine``; ``temperature`` multiplies the
      similarity: fixed for the distances (default 1), learned for cosine (initial value, default 10).
    - ``centre``, ``l2``: SimpleShot normalisation of every feature before the class means
      (subtract the training classes' mean feature, then unit length; ``fewshot_fer/features/``).
    - ``power``: between the two, every feature value to this power, sign kept (default 1: off;
      0.5 is PT-MAP's square root of ReLU features); the three are ``FeatureSteps``.
    - ``flip``: at evaluation, an image's embedding is the mean of its own and its mirror image's.
    - ``shift``: at evaluation, also average the embeddings of the image moved by that many pixels
      towards each corner (edges repeated; 0, the default, is off); with ``flip``, 10 views
      (``TestTimeViews``).
    - ``centre_episode``: first centre support and query features on the episode's own mean:
      ``support`` (inductive) or ``episode`` (support and queries: transductive); ``off`` (default).
    - ``transductive_steps``: soft k-means refinement of the prototypes with the unlabelled
      queries (Ren et al. 2018), that many steps; 0 (default) is the inductive method.
    - ``separate_passes``: in training, support and query go through the backbone in two passes
      (two sets of batch-norm statistics, as easyfsl does) instead of one.
    """

    episode_independent_embedding = True

    def __init__(self, backbone: nn.Module, distance: str = "euclidean", temperature: float | None = None,
                 centre: bool = False, l2: bool = False, flip: bool = False, transductive_steps: int = 0,
                 separate_passes: bool = False, shift: int = 0, power: float = 1.0,
                 centre_episode: str = "off") -> None:
        super().__init__(backbone)
        self.distance = check_distance(distance)
        if temperature is None:
            temperature = 10.0 if distance == "cosine" else 1.0
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}.")
        if not (0 <= transductive_steps <= MAX_STEPS and 0 <= shift <= MAX_SHIFT):
            raise ValueError(f"transductive_steps must be from 0 to {MAX_STEPS} and shift from 0 to {MAX_SHIFT}, "
                             f"got {transductive_steps} and {shift}.")
        if distance == "cosine":
            self.log_temperature = nn.Parameter(torch.tensor(float(temperature)).log())
        else:
            self.register_buffer("log_temperature", torch.tensor(float(temperature)).log(), persistent=False)
        self.episode_centring = CentreOnEpisode(centre_episode)
        self.norm = FeatureSteps(centre, l2, power)
        self.views = TestTimeViews(bool(flip), int(shift))
        self.transductive_steps = int(transductive_steps)
        self.separate_passes = bool(separate_passes)

    def forward(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor) -> torch.Tensor:
        if not self.separate_passes:
            return super().forward(support_x, support_y, query_x)
        return self.score(self.embed(support_x), support_y, self.embed(query_x))

    def set_feature_mean(self, mean: torch.Tensor) -> None:
        """Store the training classes' mean embedding ``[D]`` used by ``centre``."""
        self.norm.set_mean(mean)

    def score(self, support_f: torch.Tensor, support_y: torch.Tensor, query_f: torch.Tensor) -> torch.Tensor:
        """``[n_support, D]``, ``[n_support]``, ``[n_query, D]`` -> logits ``[n_query, n_way]``."""
        support_f, query_f = self.episode_centring(support_f, query_f)
        support_f, query_f = self.norm(support_f), self.norm(query_f)
        n_way = check_support_labels(support_y)
        prototypes = class_means(support_f, support_y, n_way)
        scale = self.log_temperature.exp()
        logits = lambda p: similarity(query_f, p, self.distance) * scale  # noqa: E731
        return logits(soft_kmeans(prototypes, support_f, support_y, query_f, logits, self.transductive_steps))

