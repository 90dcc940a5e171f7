"""Few-shot learners behind one registry; every learner follows ``FewShotLearner``'s contract.

Each learner registers where it is defined (``@register_learner("protonet")``); the registry
holds the classes themselves, so their keyword arguments (the options of ``--learner-option``)
are read from their signatures. A learner of one's own is a subclass of ``FewShotLearner`` with
the decorator, in any module imported before training.
"""

from __future__ import annotations

from torch import nn

from .base import LEARNERS, FewShotLearner, FittedLearner, check_support_labels, register_learner
from .centroid import CentroidBaseline
from .distances import DISTANCES, euclidean, similarity, squared_euclidean
from .feat import FEAT
from .maml import MAML
from .protonet import PrototypicalNetwork, class_means
from .relation import RelationNetwork


def create_learner(name: str, backbone: nn.Module, **options) -> FewShotLearner:
    """Wrap ``backbone`` in learner ``name`` (``LEARNERS.names()`` lists them)."""
    return LEARNERS.build(name, backbone, **options)


__all__ = ["CentroidBaseline", "DISTANCES", "FEAT", "FewShotLearner", "FittedLearner", "LEARNERS", "MAML",
           "PrototypicalNetwork", "RelationNetwork", "check_support_labels", "class_means", "create_learner",
           "euclidean", "register_learner", "similarity", "squared_euclidean"]
