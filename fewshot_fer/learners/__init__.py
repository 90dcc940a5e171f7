"""Few-shot learners behind one registry; every learner follows ``FewShotLearner``'s contract."""

from __future__ import annotations

from torch import nn

from ..registry import Registry
from .base import FewShotLearner, FittedLearner, check_support_labels
from .protonet import PrototypicalNetwork, class_means, squared_euclidean

LEARNERS: Registry = Registry("learner")


@LEARNERS.register("protonet")
def protonet(backbone: nn.Module, **kwargs) -> FewShotLearner:
    return PrototypicalNetwork(backbone, **kwargs)


def create_learner(name: str, backbone: nn.Module, **kwargs) -> FewShotLearner:
    """Wrap ``backbone`` in learner ``name`` (``LEARNERS.names()`` lists them)."""
    return LEARNERS.get(name)(backbone, **kwargs)


__all__ = ["FewShotLearner", "FittedLearner", "LEARNERS", "PrototypicalNetwork", "check_support_labels",
           "class_means", "create_learner", "squared_euclidean"]
