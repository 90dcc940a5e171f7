"""The self-training step of the training loop: one round (or the fresh member) of
``python -m fewshot_fer.selftrain`` trains the classifier on labelled plus pseudo-labelled faces,
mini-batch by mini-batch, and is scored by classification accuracy on the validation split.

The round's caller (``engine.self_trainer``) saves the run after each round, so the loop runs
with ``save_epochs=False``; a stop inside a round resumes at that round's start.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterator

import torch

from episodes import episode_seed

from ..baselines.supervised import accuracy, classification_loss, first_conv_weight
from ..data.transforms import to_model_input
from .classification_task import DROPOUT_STREAM, SHUFFLE_STREAM, ClassificationTask

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
                 device: torch.device, label: int | str, extra: dict[str, Any], first_step: int) -> None:
        super().__init__(model, config, {**args, "augmentation": "flip-rotate" if args["augment"] else "none"},
                         faces, val, [], device)
        self.label, self.extra, self.first_step, self.val = label, extra, first_step, val
        self.stream = label * 1000 if isinstance(label, int) else 999_000  # the fresh member draws its own numbers
        self.first = first_conv_weight(model)
        self.title = f"{args['backbone']} on {args['dataset']}"

    def batches(self, epoch: int, skip: int) -> Iterator[torch.Tensor]:
        seed = self.args["seed"]
        shuffle = torch.Generator().manual_seed(episode_seed(seed, self.stream + epoch, SHUFFLE_STREAM))
        order = torch.randperm(len(self.train_set), generator=shuffle)
        if skip == 0:
            self.gen = shuffle
            torch.manual_seed(episode_seed(seed, self.stream + epoch, DROPOUT_STREAM))  # dropout: resumable exactly
        return iter([b for b in torch.split(order, self.args["batch_size"]) if len(b) >= 2][skip:])

    def loss(self, batch: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        a = self.args
        plain = to_model_input(self.train_set.images[batch].to(self.device), self.config["mean"], self.config["std"])
        y = self.train_set.labels[batch].to(self.device)
        loss, logits = classification_loss(self.model, plain, y, self.gen, a["augmentation"], a["precision"])
        if a["l2"]:
            loss = loss + a["l2"] * self.first.pow(2).sum()
        return loss, (logits.argmax(-1) == y).sum(), len(batch)

    def end_epoch(self) -> None:
        """Nothing to prepare before validation."""

    def validate(self) -> torch.Tensor:
        """The validation split's classification accuracy, as a one-value tensor."""
        return torch.tensor([accuracy(self.model, self.val.images, self.val.labels, self.device, self.config["mean"],
                                      self.config["std"])], dtype=torch.float64)

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
