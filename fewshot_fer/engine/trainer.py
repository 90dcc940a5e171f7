"""Episodic training: one optimiser step per episode, validation on fixed episodes per epoch."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from episodes import EpisodeCollate, episode_seed, mean_ci95

from ..data.base import FaceDataset
from ..data.transforms import apply_augmentation, to_model_input
from ..learners import FewShotLearner
from ..weights import save_checkpoint
from .checkpoint import save_run_checkpoints
from .divergence import check_loss
from .distributed import (DistContext, average_buffers, average_gradients, gather_objects,
                          weights_fingerprint)
from .evaluation import episode_accuracies
from .interrupt import DeferredStop, StopRequested
from .rundir import write_metrics, write_yaml
from .schedule import epoch_lr

# episode_seed streams: rank r samples episodes from stream 2r and draws augmentations from
# stream 2r + 1, so no two ranks (and no rank's sampling and augmentation) share draws.
AUGMENT_STREAM = 1
TENSORBOARD_TAGS = {"train_loss": "train/loss", "train_acc": "train/accuracy", "val_acc": "val/accuracy",
                    "val_ci95": "val/ci95", "lr": "train/learning_rate",
                    "episodes_per_s": "speed/episodes_per_s"}


@dataclass
class TrainState:
    """Where training stands; saved in every checkpoint so ``--resume`` continues exactly."""

    epoch: int = 0  # current (0-based) epoch
    done_in_epoch: int = 0  # episodes of ``epoch`` already trained
    loss_sum: float = 0.0
    correct: float = 0.0
    seen: int = 0
    best_val: float = -math.inf
    best_epoch: int = -1
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def steps_per_epoch(episodes_per_epoch: int, world_size: int) -> int:
    """Optimiser steps per epoch on each rank: every step trains one episode per rank, so an
    epoch of ``episodes_per_epoch`` episodes takes ``ceil(episodes_per_epoch / world_size)``."""
    return -(-episodes_per_epoch // world_size)


class EpisodicTrainer:
    """Trains ``learner`` on episodes of ``train_set`` and selects it on fixed ``val_episodes``.

    Under ``torchrun`` (``dist`` enabled) each rank draws its own episodes (sampler stream 2 * rank),
    gradients are averaged every step, validation episodes are split across the ranks, and only
    rank 0 shows progress and writes files (``writer`` is ``None`` elsewhere).
    """

    def __init__(self, learner: FewShotLearner, model_config: dict[str, Any], args: dict[str, Any],
                 run_dir: Path, train_set: FaceDataset, val_set: FaceDataset,
                 val_episodes: list[list[int]], device: torch.device, writer=None,
                 dist: DistContext = DistContext()) -> None:
        self.learner, self.model_config, self.args = learner, model_config, args
        self.run_dir, self.train_set, self.val_set = run_dir, train_set, val_set
        self.val_episodes, self.device, self.writer, self.dist = val_episodes, device, writer, dist
        a = args
        self.steps = steps_per_epoch(a["episodes_per_epoch"], dist.world_size)
        self.sampler = train_set.episode_sampler(a["way"], a["shot"], a["query"], "training", seed=a["seed"],
                                                 n_episodes=self.steps, stream=2 * dist.rank)
        self.optimizer = torch.optim.Adam(learner.parameters(), lr=a["lr"])
        self.state = TrainState()
        self._stop = DeferredStop(enabled=False)  # replaced while fit() runs

    def restore(self, checkpoint: dict[str, Any]) -> None:
        self.learner.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.state = TrainState(**checkpoint["progress"])
        torch.set_rng_state(checkpoint["rng"]["torch"])
        if torch.cuda.is_available() and checkpoint["rng"].get("cuda"):
            torch.cuda.set_rng_state_all(checkpoint["rng"]["cuda"])

    def checkpoint(self) -> dict[str, Any]:
        return {"model": self.learner.state_dict(), "model_config": self.model_config,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": {"name": self.args.get("lr_schedule", "cosine"), "base_lr": self.args["lr"],
                              "epochs": self.args["epochs"], "warmup": self.args.get("warmup_epochs", 0)},
                "progress": self.state.to_dict(), "args": self.args, "command": "train",
                "rng": {"torch": torch.get_rng_state(),
                        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}}

    def fit(self) -> TrainState:
        """Train until ``--epochs`` or early stopping. Ctrl-C or SIGTERM stops at the next episode
        boundary (one process; under torchrun at once) and saves ``last.pt`` there, so ``--resume``
        continues to the same weights and batch-norm statistics as an uninterrupted run."""
        epochs = self.args["epochs"]
        with DeferredStop(enabled=not self.dist.enabled) as stop:
            self._stop = stop
            if self.dist.is_main and not (self.run_dir / "last.pt").exists():
                # the starting point: a run killed (kill -9, power loss) in its first epoch can be resumed
                save_checkpoint(self.checkpoint(), self.run_dir / "last.pt")
            try:
                while self.state.epoch < epochs and not self.patience_exhausted():
                    self.train_epoch()
                    self._end_epoch()
                    stop.check()
            except StopRequested as why:
                if self.dist.is_main:
                    save_checkpoint(self.checkpoint(), self.run_dir / "last.pt")
                    tqdm.write(f"stopped ({why}) after episode {self.state.done_in_epoch} of epoch "
                               f"{self.state.epoch + 1}: progress saved; continue with --resume {self.run_dir}")
                raise
            except KeyboardInterrupt:
                if self.dist.is_main and not stop.enabled:  # torchrun: the old behaviour, save where we are
                    save_checkpoint(self.checkpoint(), self.run_dir / "last.pt")
                    tqdm.write(f"interrupted: progress saved; continue with --resume {self.run_dir}")
                elif self.dist.is_main:
                    tqdm.write(f"interrupted twice: stopped at once; last.pt keeps the last consistent checkpoint; "
                               f"continue with --resume {self.run_dir}")
                raise
        return self.state

    def patience_exhausted(self) -> bool:
        """Early stopping: ``patience`` epochs in a row without a better validation accuracy
        (0 turns it off, and ``--epochs`` is then the exact number of epochs)."""
        patience = self.args.get("patience", 0)
        return bool(patience) and self.state.best_epoch > 0 and self.state.epoch - self.state.best_epoch >= patience

    def train_epoch(self) -> float:
        """Train the rest of the current epoch; returns episodes per second (all ranks)."""
        a, s = self.args, self.state
        per_epoch = self.steps
        self.sampler.set_epoch(s.epoch, skip=s.done_in_epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = epoch_lr(a["lr"], s.epoch, a["epochs"], a.get("lr_schedule", "cosine"),
                                   a.get("warmup_epochs", 0))
        loader = DataLoader(self.train_set, batch_sampler=self.sampler, num_workers=a["workers"],
                            collate_fn=EpisodeCollate(a["way"], a["shot"], a["query"]))
        self.learner.train()
        bar = tqdm(total=per_epoch, initial=s.done_in_epoch, desc=f"epoch {s.epoch + 1}/{a['epochs']}",
                   unit="step", dynamic_ncols=True, leave=False, disable=None if self.dist.is_main else True)
        params = [p for p in self.learner.parameters() if p.requires_grad]
        start, trained = time.perf_counter(), 0
        for episode in loader:
            step = s.epoch * per_epoch + s.done_in_epoch  # global step index
            gen = torch.Generator().manual_seed(episode_seed(a["seed"], step, AUGMENT_STREAM + 2 * self.dist.rank))
            ep = episode.to(self.device)
            x = to_model_input(torch.cat([ep.support_x, ep.query_x]), self.model_config["mean"],
                               self.model_config["std"])
            x = apply_augmentation(x, gen, a.get("augmentation", "flip-shift")) if a["augment"] else x
            loss, logits = self.learner.episode_loss(x[: len(ep.support_x)], ep.support_y,
                                                     x[len(ep.support_x):], ep.query_y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            acc = (logits.argmax(-1) == ep.query_y).float().mean()
            # one all-reduce carries the gradients and the step's loss and accuracy (no-op alone)
            loss_acc = average_gradients(self.dist, params, torch.stack([loss.detach(), acc]))
            check_loss(loss_acc[0].item(), f"epoch {s.epoch + 1}, episode {s.done_in_epoch + 1}")  # before the step
            self.optimizer.step()

            s.loss_sum += loss_acc[0].item()
            s.correct += loss_acc[1].item()
            s.seen += 1
            s.done_in_epoch += 1
            trained += 1
            bar.update(1)
            bar.set_postfix(loss=f"{s.loss_sum / s.seen:.3f}", acc=f"{100 * s.correct / s.seen:.1f}%")
            if self.writer is not None and step % 10 == 0:
                self.writer.add_scalar("train/episode_loss", loss_acc[0].item(), step)
            self._stop.check()  # a step boundary: the checkpoint is consistent here
        bar.close()
        self._episodes_per_s = trained * self.dist.world_size / max(time.perf_counter() - start, 1e-9)
        return self._episodes_per_s

    def validate(self) -> torch.Tensor:
        """Accuracy of each fixed validation episode, ``[n_val_episodes]``; the ranks score
        interleaved shares and gather them, so every rank gets the same tensor."""
        a, d = self.args, self.dist
        mine = self.val_episodes[d.rank::d.world_size]
        accs = episode_accuracies(self.learner, self.val_set, mine, a["val_way"], a["val_shot"],
                                  a["val_query"], self.device, self.model_config["mean"],
                                  self.model_config["std"]) if mine else torch.empty(0, dtype=torch.float64)
        shares = gather_objects(d, accs)
        out = torch.empty(len(self.val_episodes), dtype=torch.float64)
        for rank, share in enumerate(shares):
            out[rank::d.world_size] = share
        return out

    def _end_epoch(self) -> None:
        a, s = self.args, self.state
        average_buffers(self.dist, self.learner)  # same batch-norm statistics on every rank
        accs = self.validate()
        val_acc, val_ci = mean_ci95(accs)
        lr = self.optimizer.param_groups[0]["lr"]
        row = {"epoch": s.epoch + 1, "episode": (s.epoch + 1) * self.steps * self.dist.world_size,
               "train_loss": s.loss_sum / max(s.seen, 1), "train_acc": s.correct / max(s.seen, 1),
               "val_acc": val_acc, "val_ci95": val_ci, "lr": lr,
               "episodes_per_s": self._episodes_per_s}
        improved = val_acc > s.best_val
        if improved:
            s.best_val, s.best_epoch = val_acc, s.epoch + 1
        s.history.append(row)
        s.epoch, s.done_in_epoch, s.loss_sum, s.correct, s.seen = s.epoch + 1, 0, 0.0, 0.0, 0
        self._check_ranks_agree()
        if not self.dist.is_main:
            return

        state = self.checkpoint()
        save_run_checkpoints(state, self.run_dir, improved)
        write_metrics(self.run_dir, s.history, f"python -m fewshot_fer.train: {a.get('learner', '')} "
                      f"{a.get('backbone', '')} on {a.get('dataset', '')}, run {self.run_dir.name}")
        if self.writer is not None:
            step = row["episode"]
            for key, tag in TENSORBOARD_TAGS.items():
                self.writer.add_scalar(tag, row[key], step)
            if improved:
                self._write_embeddings(step)
            self.writer.flush()
        tqdm.write(f"epoch {row['epoch']}/{a['epochs']}  train loss {row['train_loss']:.3f} "
                   f"acc {100 * row['train_acc']:.1f}%  val {100 * val_acc:.2f} +- {100 * val_ci:.2f}%"
                   f"{'  (best)' if improved else ''}  {row['episodes_per_s']:.1f} episodes/s")
        sys.stdout.flush()  # logs redirected to a file show each epoch as it ends

    @torch.no_grad()
    def _write_embeddings(self, step: int, count: int = 256) -> None:
        """TensorBoard projector: the pooled backbone features ``[count, D]`` of ``count`` validation
        faces spread evenly over the set, with their class names and thumbnails, at each new best
        epoch (``tensorboard --logdir RUN``, Projector tab)."""
        picked = torch.linspace(0, len(self.val_set) - 1, min(count, len(self.val_set))).long()
        faces, labels = self.val_set.images[picked], self.val_set.labels[picked]
        backbone, was_training = self.learner.backbone, self.learner.training
        self.learner.eval()
        x = to_model_input(faces, self.model_config["mean"], self.model_config["std"]).to(self.device)
        features = backbone(x).mean(dim=(2, 3)).float().cpu()
        self.learner.train(was_training)
        thumbs = faces.float().div(255).expand(-1, 3, -1, -1)  # the projector's sprites want RGB
        self.writer.add_embedding(features, metadata=[self.val_set.class_names[int(c)] for c in labels],
                                  label_img=thumbs, global_step=step, tag="validation faces (best epoch)")

    def _check_ranks_agree(self) -> None:
        """Distributed runs: every rank must hold bit-identical weights after an epoch. Rank 0
        records the fingerprints in ``distributed.yaml``; a mismatch stops the run."""
        if not self.dist.enabled:
            return
        prints = gather_objects(self.dist, weights_fingerprint(self.learner))
        if self.dist.is_main:
            write_yaml(self.run_dir / "distributed.yaml",
                       {"backend": self.dist.backend, "world_size": self.dist.world_size,
                        "epoch": self.state.epoch, "identical": len(set(prints)) == 1,
                        "fingerprints": prints})
        if len(set(prints)) != 1:
            raise RuntimeError(f"ranks hold different weights after epoch {self.state.epoch}: "
                               f"{prints}; see {self.run_dir / 'distributed.yaml'}.")
