"""The episodic recipe (``python -m fewshot_fer.train``): a few-shot learner trained on episodes
and selected on fixed validation episodes."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...learners import LEARNERS
from ..precision import PRECISION_HELP, PRECISIONS
from .base import Recipe, Settings
from .fields import non_negative, positive, setting
from .groups import (
    WAY,
    DataSettings,
    RunSettings,
    augmentation_setting,
    backbone_setting,
    epochs_setting,
    options_setting,
    patience_setting,
    schedule_setting,
)

QUERY_HELP = "query images per class (fewer, with a note, where the smallest class cannot fill them)"


@dataclass(frozen=True)
class EpisodeSettings(Settings):
    """Training and validation episodes: classes, support and query images per class, and counts."""

    title = "episodes"
    way: int = setting(5, "classes per training episode", checks=(WAY,))
    shot: int = setting(5, "support images per class", checks=(positive,))
    query: int = setting(15, QUERY_HELP, checks=(positive,))
    val_way: int | None = setting(None, "classes per validation episode (default: --way)", checks=(WAY,))
    val_shot: int | None = setting(None, "support images per class in validation (default: --shot)",
                                   checks=(positive,))
    val_query: int | None = setting(None, "query images per class in validation (default: --query)",
                                    checks=(positive,))
    episodes_per_epoch: int = setting(100, "training episodes per epoch, over all processes under torchrun (each "
                                           "step trains one episode per process)", checks=(positive,))
    val_episodes: int = setting(200, "fixed validation episodes scored after each epoch", checks=(positive,))

    def check(self) -> None:
        for key in ("way", "shot", "query"):
            if getattr(self, f"val_{key}") is None:
                object.__setattr__(self, f"val_{key}", getattr(self, key))


@dataclass(frozen=True)
class LearnerSettings(Settings):
    """The learner and its backbone (``KEY=VALUE`` options as typed on the command line)."""

    title = "model"
    learner: str = setting("protonet", f"few-shot learner: {', '.join(LEARNERS.names())}")
    backbone: str = backbone_setting("conv4")
    pretrained: str | None = setting(None, "local file of backbone weights (.pth/.pt/.bin/.safetensors, torchvision "
                                           "or timm keys); never downloaded")
    learner_option: list[str] | None = options_setting(
        "learner setting, repeatable: protonet distance=cosine; relationnet objective=ce; feat heads=2 "
        "contrastive=0.1; maml inner_steps=5 inner_lr=0.1 first_order=true adapt=all batch_norm=running")
    backbone_option: list[str] | None = options_setting("backbone setting, repeatable: conv4 width=32, "
                                                        "vgcnn width=0.25")


@dataclass(frozen=True)
class EpisodicOptim(Settings):
    """How long and how the learner is trained (Adam)."""

    title = "optimisation"
    epochs: int = epochs_setting(8)
    patience: int = patience_setting(0)
    lr: float = setting(1e-3, "Adam learning rate", checks=(positive,))
    lr_schedule: str = schedule_setting("cosine")
    warmup_epochs: int = setting(0, "epochs of linear learning-rate warm-up before the schedule",
                                 checks=(non_negative,))
    augmentation: str = augmentation_setting("flip-shift")
    precision: str = setting("fp32", PRECISION_HELP, choices=PRECISIONS)
    augment: bool = setting(True, "turn off training augmentation (the same as --augmentation none)",
                            flag="--no-augment")


@dataclass(frozen=True)
class EpisodicRun(RunSettings):
    workers: int = setting(0, "DataLoader worker processes (0: load in the main process)", checks=(non_negative,))


@dataclass(frozen=True)
class EpisodicRecipe(Recipe):
    """``python -m fewshot_fer.train``: by default a prototypical network with a Conv-4 backbone
    on the built-in synthetic faces, selected on unseen compound expressions."""

    command = "train"
    resumable = frozenset({"epochs", "patience", "workers", "device"})  # a resumed run may change these
    data: DataSettings = field(default_factory=DataSettings)
    episodes: EpisodeSettings = field(default_factory=EpisodeSettings)
    model: LearnerSettings = field(default_factory=LearnerSettings)
    optim: EpisodicOptim = field(default_factory=EpisodicOptim)
    run: EpisodicRun = field(default_factory=EpisodicRun)
