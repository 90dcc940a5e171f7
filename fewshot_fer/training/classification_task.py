"""The classification step of the training loop: one optimiser step per mini-batch of faces
(``python -m fewshot_fer.pretrain``), validation by nearest class mean on the run's fixed
few-shot episodes.

Each epoch shuffles the faces with its own seeded generator, which then draws the batches'
augmentations in order; its state is kept in every checkpoint, so a run stopped inside an epoch
continues with the very draws it would have made. Under ``torchrun`` every rank takes every
``world_size``-th batch of the same shuffle (the last incomplete round is left out, so the ranks
take the same number of steps) and augments from a stream of its own.
"""

from __future__ import annotations

from typing import Any, Iterator

import torch

from episodes import episode_seed

from ..data.base import FaceDataset
from ..data.transforms import to_model_input
from ..models.training_mean import set_training_mean
from .baselines.supervised import check_heads, classification_loss
from .distributed import DistContext
from .episode_task import validation_accuracies

SHUFFLE_STREAM, DROPOUT_STREAM = 3, 4  # episode_seed streams of an epoch's shuffle and dropout draws
TENSORBOARD_KEYS = ("train_loss", "train_acc", "val_acc", "val_ci95", "lr")


class ClassificationTask:
    """Mini-batches of ``train_set`` for ``model`` (a ``CentroidBaseline`` with a class head),
    the losses of ``args`` (label smoothing, rotation, contrastive, distillation from ``teacher``),
    validation on ``val_episodes`` of ``val_set``."""

    unit = "batch"
    stream = 0  # epoch e shuffles and drops out from the seeds of epoch stream + e (a self-training round's own)

    def __init__(self, model: Any, config: dict[str, Any], args: dict[str, Any], train_set: FaceDataset,
                 val_set: FaceDataset, val_episodes: list[list[int]], device: torch.device,
                 dist: DistContext = DistContext(), teacher: Any = None) -> None:
        check_heads(model, args.get("rotation_loss", 0.0), args.get("contrastive_loss", 0.0))
        self.model, self.config, self.args, self.device, self.dist = model, config, args, device, dist
        self.train_set, self.val_set, self.val_episodes, self.teacher = train_set, val_set, val_episodes, teacher
        batches = -(-len(train_set) // args["batch_size"])
        if len(train_set) % args["batch_size"] == 1:
            batches -= 1  # a last batch of one face is left out: batch norm needs two
        self.steps = batches if dist.world_size == 1 else batches // dist.world_size
        self.gen = torch.Generator()
        self.title = f"{args['backbone']} on {args['dataset']}"

    def batches(self, epoch: int, skip: int) -> Iterator[torch.Tensor]:
        """The face indices of each remaining batch of ``epoch``; a new epoch seeds its shuffle
        (and the dropout draws), a resumed one continues from the restored generators."""
        a, d = self.args, self.dist
        epoch = self.stream + epoch
        shuffle = torch.Generator().manual_seed(episode_seed(a["seed"], epoch, SHUFFLE_STREAM))
        order = torch.randperm(len(self.train_set), generator=shuffle)
        if skip == 0:
            # rank 0 augments from the shuffle's own generator (one process: the draws of old runs)
            self.gen = shuffle if d.rank == 0 else torch.Generator().manual_seed(
                episode_seed(a["seed"], epoch, SHUFFLE_STREAM + 2 * d.rank))
            torch.manual_seed(episode_seed(a["seed"], epoch, DROPOUT_STREAM))  # dropout draws: resumable exactly
        batches = [b for b in torch.split(order, a["batch_size"]) if len(b) >= 2][d.rank::d.world_size][:self.steps]
        return iter(batches[skip:])

    def loss(self, batch: torch.Tensor, step: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        """``(loss, correct faces, faces)`` of one batch."""
        a = self.args
        plain = to_model_input(self.train_set.images[batch].to(self.device), self.config["mean"], self.config["std"])
        y = self.train_set.labels[batch].to(self.device)
        loss, logits = classification_loss(
            self.model, plain, y, self.gen, a["augmentation"], a.get("precision", "fp32"), a.get("label_smoothing", 0.0),
            a.get("rotation_loss", 0.0), a.get("contrastive_loss", 0.0), a.get("contrastive_temperature", 0.1),
            self.teacher, a.get("distill_weight", 0.5), a.get("distill_temperature", 4.0),
            (self.config["mean"], self.config["std"]))
        return loss, (logits.argmax(-1) == y).sum(), len(batch)

    def end_epoch(self) -> None:
        """SimpleShot centring: the mean feature of the training faces, before validation."""
        if self.model.norm.needs_mean:
            set_training_mean(self.model, self.train_set.images, self.args["seed"], self.device, self.config)

    def validate(self) -> torch.Tensor:
        return validation_accuracies(self.model, self.val_set, self.val_episodes, self.args, self.config,
                                     self.device, self.dist)

    def metrics_row(self, common: dict[str, Any]) -> dict[str, Any]:
        return {"epoch": common["epoch"], "train_loss": common["train_loss"], "train_acc": common["train_acc"],
                "val_acc": common["val_acc"], "val_ci95": common["val_ci95"], "lr": common["lr"],
                "faces_seen": common["epoch"] * len(self.train_set)}

    def report(self, row: dict[str, Any], improved: bool) -> str:
        return (f"epoch {row['epoch']}/{self.args['epochs']}  loss {row['train_loss']:.3f} train "
                f"{100 * row['train_acc']:.1f}%  val {100 * row['val_acc']:.2f} +- {100 * row['val_ci95']:.2f}%"
                f"{'  (best)' if improved else ''}")

    def log(self, writer: Any, row: dict[str, Any], improved: bool) -> None:
        for key in TENSORBOARD_KEYS:
            writer.add_scalar(f"pretrain/{key}", row[key], row["epoch"])

    def state_dict(self) -> dict[str, Any]:
        """The augmentation generator's state: where a stopped epoch's draws go on."""
        return {"augment_rng": self.gen.get_state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "augment_rng" in state:
            self.gen.set_state(state["augment_rng"])
