"""A supervised classifier used as a frozen feature extractor with a nearest-centroid head.

This is how classifier-trained models enter the few-shot benchmark: the baselines (the
self-training CNN, the supervised ResNet-50, ``python -m fewshot_fer.selftrain``) and the
supervised pre-training stage (``python -m fewshot_fer.pretrain``, RFS / SimpleShot) train it as
an ordinary classifier over the training classes; few-shot scoring then uses the means of the
support embeddings, on the same fixed episodes as the meta-learners.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import register_learner
from .cosine_classifier import CosineClassifier
from .protonet import PrototypicalNetwork

NECKS = ("dense", "pool", "flatten")
CLASSIFIERS = ("linear", "cosine")


@register_learner("centroid")
class CentroidBaseline(PrototypicalNetwork):
    """Backbone -> neck (the embedding) -> Dropout -> Dense ``n_classes`` (the classifier).

    ``neck``: ``dense`` (default; the self-training CNN of the design spec: 3x3 adaptive pooling,
    Dense ``hidden``, BN, ReLU -> ``[B, hidden]``), ``pool`` (global average pooling ->
    ``[B, C]``, RFS / SimpleShot's embedding) or ``flatten`` (the feature maps flattened,
    ``[B, C * h * w]``, ProtoNet's embedding, so the backbone carries over to ``train``).
    ``rotation_head`` adds a 4-way linear head that predicts an image's rotation (the classifier
    trainer's ``rotation_loss``); ``projection_head`` adds SimCLR's projection (Dense 256, ReLU,
    Dense 128) for its ``contrastive_loss``. ``classifier``: ``linear`` (default) or ``cosine``
    (``CosineClassifier``: ``scale`` times the cosine to each class weight, ``margin`` taken off the
    true class's cosine in training). Few-shot scoring: the prototypical options (``distance`` cosine by default, ``centre``,
    ``power``, ``l2``, ``flip``, ``shift``, ``centre_episode``, ``transductive_steps``) on the embedding.
    """

    def __init__(self, backbone: nn.Module, n_classes: int = 7, hidden: int = 256, dropout: float = 0.3,
                 distance: str = "cosine", neck: str = "dense", centre: bool = False, l2: bool = False,
                 flip: bool = False, transductive_steps: int = 0, rotation_head: bool = False,
                 projection_head: bool = False, shift: int = 0, classifier: str = "linear",
                 scale: float = 10.0, margin: float = 0.0, power: float = 1.0, centre_episode: str = "off") -> None:
        super().__init__(backbone, distance=distance, centre=centre, l2=l2, flip=flip,
                         transductive_steps=transductive_steps, shift=shift, power=power,
                         centre_episode=centre_episode)
        if n_classes < 2 or hidden < 1:
            raise ValueError(f"n_classes must be >= 2 and hidden >= 1, got {n_classes} and {hidden}.")
        if neck not in NECKS:
            raise ValueError(f"neck must be one of {', '.join(NECKS)}; got {neck!r}.")
        if classifier not in CLASSIFIERS:
            raise ValueError(f"classifier must be one of {', '.join(CLASSIFIERS)}; got {classifier!r}.")
        if margin and classifier != "cosine":
            raise ValueError(f"margin={margin} needs classifier=cosine (a margin on cosines).")
        width, self.neck_kind = backbone.out_channels, neck
        if neck == "dense":
            self.neck = nn.Sequential(nn.AdaptiveAvgPool2d(3), nn.Flatten(), nn.Linear(width * 9, hidden),
                                      nn.BatchNorm1d(hidden), nn.ReLU())
            dense = nn.Linear(hidden, n_classes)
        elif neck == "pool":
            self.neck = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
            dense = nn.Linear(width, n_classes)
        else:  # the size of flattened maps depends on the image size: known at the first batch
            self.neck = nn.Flatten()
            dense = nn.LazyLinear(n_classes)
        # the class head; kept as nn.Linear when linear, so checkpoints of linear heads load as before
        head = dense if classifier == "linear" else CosineClassifier(n_classes, scale, margin)
        self.head = nn.Sequential(nn.Dropout(dropout), head)
        self.n_classes = n_classes
        # self-supervised auxiliary task of the classifier trainer (Gidaris et al. 2019): which of
        # 0/90/180/270 degrees an image was turned by; it keeps features from collapsing onto
        # the few training classes
        self.rotation = (nn.LazyLinear(4) if neck == "flatten" else nn.Linear(dense.in_features, 4)) \
            if rotation_head else None
        # instance discrimination on a projection, as SimCLR: the embedding below it keeps more
        self.projection = nn.Sequential(nn.LazyLinear(256) if neck == "flatten" else
                                        nn.Linear(dense.in_features, 256),
                                        nn.ReLU(), nn.Linear(256, 128)) if projection_head else None

    def penultimate(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` -> ``[B, D]``, the classifier's input (the neck's output)."""
        return self.neck(self.backbone(x))

    def embed_once(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` -> ``[B, D]`` few-shot features: the neck's output for ``pool`` and
        ``flatten``; for ``dense``, the globally pooled backbone maps, not the dense layer trained to
        separate the training classes (it transfers worse to new ones)."""
        if self.neck_kind == "dense":
            return self.backbone(x).mean(dim=(-2, -1))
        return self.penultimate(x)

    def classify(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, H, W]`` -> class logits ``[B, n_classes]``."""
        return self.head(self.penultimate(x))

    def classify_features(self, features: torch.Tensor) -> torch.Tensor:
        """Logits from precomputed embeddings (MC-dropout over the head only)."""
        return self.head(features)

    def training_logits(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The logits the classifier trainer's cross-entropy sees: ``logits`` ``[B, n_classes]``
        of ``classify``, with the cosine classifier's margin applied to the true ``labels`` ``[B]``."""
        head = self.head[-1]
        return head.with_margin(logits, labels) if isinstance(head, CosineClassifier) else logits
