"""The episodic step of the training loop: one optimiser step per episode (``python -m
fewshot_fer.train``), validation on the run's fixed episodes."""

from __future__ import annotations

from typing import Any, Iterator

import torch
from torch.utils.data import DataLoader

from episodes import EpisodeCollate, episode_seed

from ..data.base import FaceDataset
from ..data.transforms import apply_augmentation, to_model_input
from ..evaluation.episodes import episode_accuracies
from ..learners import FewShotLearner
from .distributed import DistContext, gather_objects
from .precision import autocast, prepare_input

# episode_seed streams: rank r samples episodes from stream 2r and draws augmentations from
# stream 2r + 1, so no two ranks (and no rank's sampling and augmentation) share draws.
AUGMENT_STREAM = 1
TENSORBOARD_TAGS = {"train_loss": "train/loss", "train_acc": "train/accuracy", "val_acc": "val/accuracy",
                    "val_ci95": "val/ci95", "lr": "train/learning_rate",
                    "episodes_per_s": "speed/episodes_per_s"}


def steps_per_epoch(episodes_per_epoch: int, world_size: int) -> int:
    """Optimiser steps per epoch on each rank: every step trains one episode per rank, so an
    epoch of ``episodes_per_epoch`` episodes takes ``ceil(episodes_per_epoch / world_size)``."""
    return -(-episodes_per_epoch // world_size)


def validation_accuracies(learner: FewShotLearner, val_set: FaceDataset, val_episodes: list[list[int]],
                          args: dict[str, Any], config: dict[str, Any], device: torch.device,
                          dist: DistContext) -> torch.Tensor:
    """Accuracy of each fixed validation episode, ``[n_val_episodes]``; the ranks score
    interleaved shares and gather them, so every rank gets the same tensor."""
    mine = val_episodes[dist.rank::dist.world_size]
    accs = episode_accuracies(learner, val_set, mine, args["val_way"], args["val_shot"], args["val_query"], device,
                              config["mean"], config["std"]) if mine else torch.empty(0, dtype=torch.float64)
    out = torch.empty(len(val_episodes), dtype=torch.float64)
    for rank, share in enumerate(gather_objects(dist, accs)):
        out[rank::dist.world_size] = share
    return out


class EpisodeTask:
    """Episodes of ``train_set`` (each rank its own stream), augmented per step from the step's
    own seed; the learner's ``episode_loss``; validation on ``val_episodes`` of ``val_set``."""

    unit = "episode"

    def __init__(self, learner: FewShotLearner, config: dict[str, Any], args: dict[str, Any], train_set: FaceDataset,
                 val_set: FaceDataset, val_episodes: list[list[int]], device: torch.device,
                 dist: DistContext = DistContext()) -> None:
        self.learner, self.config, self.args, self.device, self.dist = learner, config, args, device, dist
        self.train_set, self.val_set, self.val_episodes = train_set, val_set, val_episodes
        self.steps = steps_per_epoch(args["episodes_per_epoch"], dist.world_size)
        self.sampler = train_set.episode_sampler(args["way"], args["shot"], args["query"], "training",
                                                 seed=args["seed"], n_episodes=self.steps, stream=2 * dist.rank)
        self.precision = args.get("precision", "fp32")
        self.title = f"{args.get('learner', '')} {args.get('backbone', '')} on {args.get('dataset', '')}"

    def batches(self, epoch: int, skip: int) -> Iterator[Any]:
        """The episodes of ``epoch`` after the first ``skip`` (the sampler draws them again exactly)."""
        a = self.args
        self.sampler.set_epoch(epoch, skip=skip)
        return iter(DataLoader(self.train_set, batch_sampler=self.sampler, num_workers=a["workers"],
                               collate_fn=EpisodeCollate(a["way"], a["shot"], a["query"])))

    def loss(self, episode: Any, step: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        """``(loss, accuracy, 1)`` of one episode (its accuracy over its queries)."""
        a = self.args
        gen = torch.Generator().manual_seed(episode_seed(a["seed"], step, AUGMENT_STREAM + 2 * self.dist.rank))
        ep = episode.to(self.device)
        x = to_model_input(torch.cat([ep.support_x, ep.query_x]), self.config["mean"], self.config["std"])
        if a["augment"]:
            x = apply_augmentation(x, gen, a.get("augmentation", "flip-shift"), self.config["mean"], self.config["std"])
        x = prepare_input(x, self.precision)
        with autocast(self.device, self.precision):
            loss, logits = self.learner.episode_loss(x[: len(ep.support_x)], ep.support_y, x[len(ep.support_x):],
                                                     ep.query_y)
        return loss.float(), (logits.argmax(-1) == ep.query_y).float().mean(), 1

    def end_epoch(self) -> None:
        """Nothing to prepare before validation."""

    def validate(self) -> torch.Tensor:
        return validation_accuracies(self.learner, self.val_set, self.val_episodes, self.args, self.config,
                                     self.device, self.dist)

    def metrics_row(self, common: dict[str, Any]) -> dict[str, Any]:
        return {"epoch": common["epoch"], "episode": common["epoch"] * self.steps * self.dist.world_size,
                "train_loss": common["train_loss"], "train_acc": common["train_acc"], "val_acc": common["val_acc"],
                "val_ci95": common["val_ci95"], "lr": common["lr"], "episodes_per_s": common["per_s"]}

    def report(self, row: dict[str, Any], improved: bool) -> str:
        return (f"epoch {row['epoch']}/{self.args['epochs']}  train loss {row['train_loss']:.3f} "
                f"acc {100 * row['train_acc']:.1f}%  val {100 * row['val_acc']:.2f} +- {100 * row['val_ci95']:.2f}%"
                f"{'  (best)' if improved else ''}  {row['episodes_per_s']:.1f} episodes/s")

    def log(self, writer: Any, row: dict[str, Any], improved: bool) -> None:
        for key, tag in TENSORBOARD_TAGS.items():
            writer.add_scalar(tag, row[key], row["episode"])
        if improved:
            self.write_embeddings(writer, row["episode"])

    def state_dict(self) -> dict[str, Any]:
        return {}  # the sampler and the augmentation draw from seeds of the step: nothing to keep

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore (see ``state_dict``)."""

    @torch.no_grad()
    def write_embeddings(self, writer: Any, step: int, count: int = 256) -> None:
        """TensorBoard projector: the pooled backbone features ``[count, D]`` of ``count`` validation
        faces spread evenly over the set, with their class names and thumbnails, at each new best
        epoch (``tensorboard --logdir RUN``, Projector tab)."""
        picked = torch.linspace(0, len(self.val_set) - 1, min(count, len(self.val_set))).long()
        faces, labels = self.val_set.images[picked], self.val_set.labels[picked]
        backbone, was_training = self.learner.backbone, self.learner.training
        self.learner.eval()
        x = to_model_input(faces, self.config["mean"], self.config["std"]).to(self.device)
        features = backbone(x)
        features = features.flatten(2).mean(-1) if features.dim() > 2 else features  # pooled feature maps
        self.learner.train(was_training)
        thumbs = faces.float().div(255).expand(-1, 3, -1, -1)  # the projector's sprites want RGB
        writer.add_embedding(features.float().cpu(), metadata=[self.val_set.class_names[int(c)] for c in labels],
                             label_img=thumbs, global_step=step, tag="validation faces (best epoch)")
