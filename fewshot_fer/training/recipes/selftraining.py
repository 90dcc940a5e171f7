"""The self-training recipe (``python -m fewshot_fer.selftrain``): the self-training CNN baseline
of the FER2013 study (round 0 supervised, then pseudo-labelling rounds with MC-dropout)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ...data import DATASETS
from ..baselines.pseudo_labels import SELECTIONS
from ..baselines.supervised import MC_SCOPE_HELP, MC_SCOPES
from ..precision import PRECISION_HELP, PRECISIONS
from .base import Recipe, Settings
from .fields import at_least, in_range, non_negative, positive, setting, share
from .groups import InputSettings, RunSettings, backbone_setting, epochs_setting, options_setting, schedule_setting


def rehearsal(text: str) -> str | None:
    """What ``--rehearsal`` must be, when ``text`` is not it: ``all`` or ``sample:F``, 0 < F <= 1."""
    kind, _, value = text.partition(":")
    try:
        ok = text == "all" or (kind == "sample" and 0 < float(value) <= 1)
    except ValueError:
        ok = False
    return None if ok else "'all' or 'sample:F' with F in (0, 1]"


@dataclass(frozen=True)
class LabelledData(InputSettings):
    """The labelled dataset and the unlabeled faces."""

    dataset: str = setting("synthetic-basic", f"labelled dataset: {', '.join(DATASETS.names())}")
    data_root: str | None = setting(None, "folder of the dataset as unpacked")
    classes: str | None = setting(None, "comma-separated classes (default: all)")
    labelled_fraction: float = setting(1.0, "share of the training split that keeps its labels (stratified, from "
                                            "--seed); the rest is used as unlabeled faces",
                                       checks=(positive, in_range(0, 1)))
    unlabeled_root: str | None = setting(None, "folder tree of unlabeled face images")
    unlabeled_limit: int | None = setting(None, "use at most this many unlabeled faces", checks=(positive,))
    keep_duplicates: bool = setting(False, "score the test split with its faces that copy training, validation or "
                                           "other test faces (left out by default, as evaluate does)")

    def datasets(self) -> str:
        return self.dataset


@dataclass(frozen=True)
class CnnSettings(Settings):
    """The classifier and its supervised training (round 0; later rounds reuse the batch size)."""

    title = "model and supervised training"
    backbone: str = backbone_setting("vgcnn", "vgcnn (the study's CNN), resnet50, resnet18, ..., or timm:NAME (any "
                                              "timm model)")
    backbone_option: list[str] | None = options_setting("backbone setting, e.g. width=0.25 (vgcnn default: 1.0 on a "
                                                        "GPU, 0.25 on a CPU)")
    pretrained: str | None = setting(None, "local file of backbone weights (e.g. ImageNet ResNet-50)")
    epochs: int = epochs_setting(30, "epochs of round 0 (supervised)")
    batch_size: int = setting(64, "images per training step, in every round", checks=(positive,))
    lr: float = setting(1e-3, "Adam learning rate of round 0", checks=(positive,))
    l2: float = setting(0.01, "L2 penalty on the first convolution's weights", checks=(non_negative,))
    precision: str = setting("fp32", PRECISION_HELP + "; every round", choices=PRECISIONS)
    augment: bool = setting(True, "no flips and rotations", flag="--no-augment")
    lr_schedule: str = schedule_setting("constant", "; restarts in every round, from that round's learning rate")


@dataclass(frozen=True)
class RoundSettings(Settings):
    """The pseudo-labelling rounds and the fresh member."""

    title = "self-training"
    rounds: int = setting(3, "pseudo-labelling rounds after round 0", checks=(non_negative,))
    round_epochs: int = setting(5, "epochs of each pseudo-labelling round", checks=(positive,))
    round_lr_decay: float = setting(0.5, "round r trains with lr * decay^r", checks=(positive,))
    threshold: float = setting(0.95, "minimum soft-vote confidence of a pseudo-label", checks=(share,))
    mc_passes: int = setting(30, "MC-dropout passes (T), for choosing pseudo-labels and for the test-time soft vote",
                             checks=(positive,))
    mc_scope: str = setting("head", MC_SCOPE_HELP, choices=MC_SCOPES)
    selection: str = setting("confidence", "ranking of the confident faces within a class", choices=SELECTIONS)
    class_cap: int | None = setting(None, "pseudo-labels kept per class and round (default: the median labelled "
                                          "count per class)", checks=(at_least(1),))
    rehearsal: str = setting("all", "labelled faces trained on again in each round: 'all', or 'sample:F' for a "
                                    "stratified share F of them, drawn anew every round", checks=(rehearsal,))
    fresh: float = setting(0.0, "after the rounds, train a fresh member from scratch on this share of the labelled "
                                "faces plus the kept round's pseudo-labels, and score it and its soft-voting ensemble "
                                "with the kept round (0: off)", checks=(share,), metavar="FRACTION")


@dataclass(frozen=True)
class SelfTrainRun(RunSettings):
    seed: int = setting(0, "seed of the labelled subset, initial weights, batches, augmentation and dropout",
                        checks=(non_negative,))
    resume: str | None = setting(None, "continue RUN_DIR from its next round (--rounds may be raised)",
                                 metavar="RUN_DIR")


@dataclass(frozen=True)
class SelfTrainRecipe(Recipe):
    """``python -m fewshot_fer.selftrain``: the self-training CNN baseline."""

    command = "selftrain"
    resumable = frozenset({"rounds", "device", "keep_duplicates"})
    data: LabelledData = field(default_factory=LabelledData)
    model: CnnSettings = field(default_factory=CnnSettings)
    selftraining: RoundSettings = field(default_factory=RoundSettings)
    run: SelfTrainRun = field(default_factory=SelfTrainRun)
