"""Test-time feature transforms, one file each, for any learner with an embedding: views
(``views``), centring on a mean (``centring``) or on the episode's own (``episode_centring``),
signed power (``power``), unit length (``l2``), their composition (``steps``) and transductive
refinement of prototypes (``transductive``). Pure tensor code: no data, no training."""

from .centring import CentreOnMean
from .episode_centring import EPISODE_MEANS, CentreOnEpisode
from .l2 import L2Normalise
from .power import SignedPower
from .steps import FeatureSteps
from .transductive import refine_prototypes, soft_kmeans
from .views import TestTimeViews, evaluation_views

__all__ = ["EPISODE_MEANS", "CentreOnEpisode", "CentreOnMean", "FeatureSteps", "L2Normalise", "SignedPower",
           "TestTimeViews", "evaluation_views", "refine_prototypes", "soft_kmeans"]
