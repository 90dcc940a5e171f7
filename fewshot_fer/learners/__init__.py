"""Few-shot learners behind one registry; every learner follows ``FewShotLearner``'s contract.

The registry holds the learner classes themselves, so their keyword arguments (the options of
``--learner-option``) are read from their signatures.
"""

from __future__ import annotations

from torch import nn

from ..registry import Registry
from .base import FewShotLearner, FittedLearner, check_support_labels
from .centroid import CentroidBaseline
from .feat import FEAT
from .maml import MAML
from .distances import DISTANCES, euclidean, similarity, squared_euclidean
from .protonet import PrototypicalNetwork, class_means
from .relation import RelationNetwork

LEARNERS: Registry = Registry("learner")
LEARNERS.register("protonet")(PrototypicalNetwork)
LEARNERS.register("relationnet")(RelationNetwork)
LEARNERS.register("feat")(FEAT)
LEARNERS.register("maml")(MAML)
LEARNERS.register("centroid")(CentroidBaseline)


def create_learner(name: str, backbone: nn.Module, **options) -> FewShotLearner:
    """Wrap ``backbone`` in learner ``name`` (``LEARNERS.names()`` lists them)."""
    return LEARNERS.build(name, backbone, **options)


__all__ = ["CentroidBaseline", "FEAT", "MAML", "RelationNetwork", "FewShotLearner", "FittedLearner", "LEARNERS", "PrototypicalNetwork",
           "check_support_labels", "class_means", "create_learner", "DISTANCES", "euclidean", "similarity",
           "squared_euclidean"]
