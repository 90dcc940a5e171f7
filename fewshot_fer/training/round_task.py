"""The self-training step of the training loop: one round (or the fresh member) of
``python -m fewshot_fer.selftrain`` trains the classifier on labelled plus pseudo-labelled faces,
mini-batch by mini-batch, and is scored by classification accuracy on the validation split.

The round's caller (``training.self_trainer``) saves the run after each round, so the loop runs
with ``save_epochs=False``; a stop inside a round resumes at that round's start. Under ``torchrun``
every rank trains on its own share of each epoch's batches (``ClassificationTask``) and scores
the whole validation split.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .baselines.supervised import accuracy, first_conv_weight
from .classification_task import ClassificationTask
from .distributed import DistContext

TENSORBOARD_KEYS = ("train_loss", "train_acc", "val_acc", "lr", "pseudo_labels")


@dataclass(frozen=True)
class LabelledFaces:
    """Faces ``images`` uint8 ``[N, C, H, W]`` with ``labels`` ``[N]``, such as a round's training set."""

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


class RoundTask(ClassificationTask):
    """A round ``label`` (``0, 1, ...`` or ``"fresh"``) on ``faces``: every epoch shuffles and
    augments from the seed of ``stream + epoch`` (``flip-rotate``, or none without ``augment``),
    adds ``l2`` times the first convolution's squared weights to the loss, and scores ``val``
    (a labelled split) by classification accuracy. ``extra``: columns every row of the round
    carries (its pseudo-label counts); ``first_step``: rows of the run before this round (the
    TensorBoard step)."""

    def __init__(self, model: Any, config: dict[str, Any], args: dict[str, Any], faces: LabelledFaces, val: Any,
                 device: torch.device, label: int | str, extra: dict[str, Any], first_step: int,
                 dist: DistContext = DistContext()) -> None:
        super().__init__(model, config, {**args, "augmentation": "flip-rotate" if args["augment"] else "none"},
                         faces, val, [], device, dist)
        self.label, self.extra, self.first_step = label, extra, first_step
        self.stream = label * 1000 if isinstance(label, int) else 999_000  # the fresh member draws its own numbers
        self.first = first_conv_weight(model)

    def loss(self, batch: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        """The classification step's loss plus ``l2`` times the first convolution's squared weights."""
        loss, correct, count = super().loss(batch, step)
        if self.args["l2"]:
            loss = loss + self.args["l2"] * self.first.pow(2).sum()
        return loss, correct, count

    def end_epoch(self) -> None:
        """Nothing to prepare before validation."""

    def validate(self) -> torch.Tensor:
        """The validation split's classification accuracy, as a one-value tensor."""
        val, config = self.val_set, self.config
        return torch.tensor([accuracy(self.model, val.images, val.labels, self.device, config["mean"], config["std"])],
                            dtype=torch.float64)

    def metrics_row(self, common: dict[str, Any]) -> dict[str, Any]:
        return {"round": self.label, "epoch": common["epoch"], "train_loss": common["train_loss"],
                "train_acc": common["train_acc"], "val_acc": common["val_acc"], "lr": common["lr"], **self.extra}

    def report(self, row: dict[str, Any], improved: bool) -> str:
        what = f"round {self.label}" if isinstance(self.label, int) else "fresh member"
        note = f"  ({self.extra['pseudo_labels']} pseudo-labels)" if self.extra.get("pseudo_labels") else ""
        return (f"{what} epoch {row['epoch']}: loss {row['train_loss']:.3f} train {100 * row['train_acc']:.1f}% "
                f"val {100 * row['val_acc']:.2f}%{note}")

    def log(self, writer: Any, row: dict[str, Any], improved: bool) -> None:
        for key in TENSORBOARD_KEYS:
            writer.add_scalar(f"selftrain/{key}", row[key], self.first_step + row["epoch"])
