"""The supervised pre-training recipe (``python -m fewshot_fer.pretrain``): a classifier over the
training classes, selected by nearest-centroid accuracy on fixed validation episodes of other
classes; its backbone is what the episodic recipe fine-tunes (``--pretrained``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..precision import PRECISION_HELP, PRECISIONS
from .base import Recipe, Settings
from .fields import in_range, non_negative, positive, setting, share
from .groups import (
    DataSettings,
    RunSettings,
    augmentation_setting,
    backbone_setting,
    epochs_setting,
    options_setting,
    patience_setting,
    schedule_setting,
)

# SimpleShot's CL2N nearest-centroid head on globally pooled features
DEFAULT_LEARNER_OPTIONS = {"neck": "pool", "distance": "euclidean", "centre": True, "l2": True, "dropout": 0.0}
OPTIMIZERS = ("adam", "sgd")


@dataclass(frozen=True)
class ValidationEpisodes(Settings):
    """The fixed validation episodes that select the epoch."""

    title = "validation episodes (model selection)"
    val_way: int | None = setting(None, "classes per episode (default: all validation classes, at most 5)",
                                  checks=(in_range(2, 1000),))
    val_shot: int = setting(5, "support images per class", checks=(positive,))
    val_query: int = setting(15, "query images per class (fewer, with a note, where the smallest class cannot fill "
                                 "them)", checks=(positive,))
    val_episodes: int = setting(200, "fixed validation episodes scored after each epoch", checks=(positive,))


@dataclass(frozen=True)
class ClassifierSettings(Settings):
    """The backbone and its classifier head (the centroid learner's options)."""

    title = "model"
    backbone: str = backbone_setting("conv4")
    backbone_option: list[str] | None = options_setting("backbone setting, repeatable: conv4 width=128, resnet18 "
                                                        "small_input=true")
    pretrained: str | None = setting(None, "local file of initial backbone weights; never downloaded")
    learner_option: list[str] | None = options_setting(
        "classifier and few-shot head settings (the centroid learner's), repeatable; defaults: "
        + " ".join(f"{k}={v}" for k, v in DEFAULT_LEARNER_OPTIONS.items())
        + " (neck dense|pool|flatten, distance euclidean|squared|cosine, flip=true averages mirror images at "
          "evaluation)")


@dataclass(frozen=True)
class PretrainOptim(Settings):
    """Mini-batch training: optimiser, schedule, losses."""

    title = "optimisation"
    epochs: int = epochs_setting(30)
    patience: int = patience_setting(6)
    batch_size: int = setting(64, "faces per optimiser step", checks=(positive,))
    optimizer: str = setting("adam", "adam, or sgd: SGD with Nesterov momentum, RFS's optimiser (give it a larger "
                                     "--lr, e.g. 0.05)", choices=OPTIMIZERS)
    momentum: float = setting(0.9, "with --optimizer sgd: its momentum", checks=(in_range(0, 1, high_open=True),))
    lr: float = setting(1e-3, "peak learning rate", checks=(positive,))
    weight_decay: float = setting(5e-4, "weight decay (L2 on every weight)", checks=(non_negative,))
    lr_schedule: str = schedule_setting("cosine")
    warmup_epochs: int = setting(0, "epochs of linear learning-rate warm-up", checks=(non_negative,))
    label_smoothing: float = setting(0.1, "cross-entropy label smoothing", checks=(in_range(0, 1, high_open=True),))
    precision: str = setting("fp32", PRECISION_HELP, choices=PRECISIONS)
    augmentation: str = augmentation_setting("face")
    rotation_loss: float = setting(0.0, "weight of the self-supervised rotation-prediction loss (0: off; it doubles "
                                        "the cost of a step)", checks=(non_negative,))
    contrastive_loss: float = setting(0.0, "weight of SimCLR's self-supervised contrastive loss between two augmented "
                                           "views of each face (0: off; it doubles the cost of a step)",
                                      checks=(non_negative,))
    contrastive_temperature: float = setting(0.1, "temperature of the contrastive loss's cosine similarities",
                                             checks=(positive,))
    teacher: str | None = setting(None, "self-distillation (RFS, born-again networks): a classifier checkpoint over "
                                        "the same training classes and input format (best.pt of an earlier pretrain "
                                        "run), whose softened predictions the new network also learns",
                                  metavar="CHECKPOINT")
    distill_weight: float = setting(0.5, "with --teacher: share of the distillation loss, the cross-entropy has the "
                                         "rest", checks=(share,))
    distill_temperature: float = setting(4.0, "with --teacher: temperature that softens both networks' predictions",
                                         checks=(positive,))


@dataclass(frozen=True)
class PretrainRun(RunSettings):
    seed: int = setting(0, "seed of batches, augmentation, initial weights and episodes", checks=(non_negative,))
    resume: str | None = setting(None, "continue RUN_DIR where it stopped, also inside an epoch (--epochs and "
                                       "--patience may change)", metavar="RUN_DIR")


@dataclass(frozen=True)
class PretrainRecipe(Recipe):
    """``python -m fewshot_fer.pretrain``: supervised pre-training of a backbone."""

    command = "pretrain"
    resumable = frozenset({"epochs", "patience", "device"})
    data: DataSettings = field(default_factory=DataSettings)
    episodes: ValidationEpisodes = field(default_factory=ValidationEpisodes)
    model: ClassifierSettings = field(default_factory=ClassifierSettings)
    optim: PretrainOptim = field(default_factory=PretrainOptim)
    run: PretrainRun = field(default_factory=PretrainRun)
