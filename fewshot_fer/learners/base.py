"""The learner contract shared by every few-shot method, and the fit-once/predict-many wrapper."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from ..features import TestTimeViews
from ..registry import Registry

MAX_STEPS = 1000  # adaptation or refinement steps per episode: a bound checked before any work

Predictor = Callable[[torch.Tensor], torch.Tensor]  # query images [B, C, H, W] -> logits [B, n_way]

# Learner classes by name; their keyword arguments are the options of --learner-option.
LEARNERS: Registry = Registry("learner")


def register_learner(name: str) -> Callable[[type], type]:
    """Class decorator: make a ``FewShotLearner`` subclass available as ``--learner NAME``
    (also from a user's own module, once it is imported)."""
    def decorator(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, FewShotLearner)):
            raise TypeError(f"register_learner({name!r}) takes a FewShotLearner subclass, got {cls!r}.")
        LEARNERS.add(name, cls)
        return cls
    return decorator


def check_support_labels(support_y: torch.Tensor) -> int:
    """Return ``n_way`` after checking that labels are exactly ``0..n_way-1``."""
    if support_y.dim() != 1 or len(support_y) == 0:
        raise ValueError(f"support_y must be a non-empty 1-D tensor, got shape {tuple(support_y.shape)}.")
    present = torch.unique(support_y)
    n_way = int(present.max()) + 1
    if len(present) != n_way or int(present.min()) != 0:
        raise ValueError(f"support labels must be 0..n_way-1 with every class present, got {present.tolist()}.")
    return n_way


def check_images(x: torch.Tensor, name: str) -> None:
    """Images given to ``fit`` / ``predict`` must be a float batch ``[B, C, H, W]``."""
    if x.dim() != 4:
        raise ValueError(f"{name} must be an image batch [B, C, H, W], got shape {tuple(x.shape)}.")
    if not x.is_floating_point():
        raise ValueError(f"{name} has dtype {x.dtype}; learners take float images: convert decoded "
                         "uint8 images with fewshot_fer.data.transforms.to_model_input(x).")


class FewShotLearner(nn.Module):
    """Base class: ``forward(support_x, support_y, query_x) -> logits [n_query_total, n_way]``.

    ``support_x``: ``[n_way * k_shot, C, H, W]``; ``support_y``: ``[n_way * k_shot]`` in
    ``0..n_way-1``; ``query_x``: ``[n_query_total, C, H, W]``.

    Learners whose image embedding does not depend on the episode set
    ``episode_independent_embedding = True`` and implement ``embed`` and ``score``; evaluation
    then embeds every image once and scores episodes from cached features.
    """

    episode_independent_embedding: bool = False

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        # test-time views (``fewshot_fer.features.TestTimeViews``): averaged in ``embed`` in eval mode
        self.views = TestTimeViews()

    def embed_once(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` -> ``[B, D]``: the flattened backbone maps of one view."""
        return self.backbone(x).flatten(1)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` -> ``[B, D]`` features; in eval mode, the mean over ``self.views``."""
        return self.embed_once(x) if self.training else self.views(self.embed_once, x)

    def score(self, support_f: torch.Tensor, support_y: torch.Tensor, query_f: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not score from cached features.")

    def forward(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor) -> torch.Tensor:
        # One backbone pass over support and query together: one set of batch statistics.
        features = self.embed(torch.cat([support_x, query_x]))
        return self.score(features[: len(support_x)], support_y, features[len(support_x):])

    def episode_loss(self, support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor,
                     query_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Training objective of one episode: ``(loss, logits [n_query_total, n_way])``.
        Cross-entropy on the query logits unless a learner defines its own."""
        logits = self(support_x, support_y, query_x)
        return nn.functional.cross_entropy(logits, query_y), logits

    def adapt(self, support_x: torch.Tensor, support_y: torch.Tensor) -> Predictor:
        """Everything that depends on the support set, done once; returns query -> logits."""
        if not self.episode_independent_embedding:
            return lambda query_x: self(support_x, support_y, query_x)
        support_f = self.embed(support_x)
        return lambda query_x: self.score(support_f, support_y, self.embed(query_x))

    @torch.no_grad()
    def fit(self, support_x: torch.Tensor, support_y: torch.Tensor) -> "FittedLearner":
        """Adapt to a support set once; the result predicts any number of images.

        ``support_x``: float ``[n_way * k_shot, C, H, W]`` (decoded uint8 images go through
        ``fewshot_fer.data.transforms.to_model_input`` first); ``support_y``: ``[n_way * k_shot]``
        in ``0..n_way-1``.
        """
        check_support_labels(support_y)
        return FittedLearner(self, support_x, support_y)


class FittedLearner:
    """A learner bound to one support set. ``predict_logits(x)`` -> ``[len(x), n_way]``."""

    def __init__(self, learner: FewShotLearner, support_x: torch.Tensor, support_y: torch.Tensor) -> None:
        self.learner = learner
        self.n_way = check_support_labels(support_y)
        check_images(support_x, "support_x")
        if len(support_x) != len(support_y):
            raise ValueError(f"support_x has {len(support_x)} images but support_y {len(support_y)} labels.")
        self.predictor = learner.adapt(support_x, support_y)

    @torch.no_grad()
    def predict_logits(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        check_images(x, "images")
        out = [self.predictor(batch) for batch in torch.split(x, batch_size)]
        return torch.cat(out) if out else torch.zeros(0, self.n_way)

    def predict_proba(self, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        return self.predict_logits(x, batch_size).softmax(-1)
