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

from episodes import EpisodeCollate, EpisodeSampler, episode_seed, mean_ci95

from ..data.base import FaceDataset
from ..data.transforms import augment, to_model_input
from ..learners import FewShotLearner
from .checkpoint import save_checkpoint
from .evaluation import episode_accuracies
from .rundir import write_csv

AUGMENT_STREAM = 1  # episode_seed stream of the augmentation draws, apart from sampling (0)
TENSORBOARD_TAGS = {"train_loss": "train/loss", "train_acc": "train/accuracy", "val_acc": "val/accuracy",
                    "val_ci95": "val/ci95", "lr": "train/learning_rate",
                    "episodes_per_s": "speed/episodes_per_s"}


def cosine_lr(base_lr: float, epoch: int, epochs: int) -> float:
    """Cosine annealing from ``base_lr`` at epoch 0 towards 0, computed from the epoch alone so
    that a resumed run (even one given more epochs) needs no scheduler state."""
    return 0.5 * base_lr * (1 + math.cos(math.pi * epoch / epochs))


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


class EpisodicTrainer:
    """Trains ``learner`` on episodes of ``train_set`` and selects it on fixed ``val_episodes``."""

    def __init__(self, learner: FewShotLearner, model_config: dict[str, Any], args: dict[str, Any],
                 run_dir: Path, train_set: FaceDataset, val_set: FaceDataset,
                 val_episodes: list[list[int]], device: torch.device, writer=None) -> None:
        self.learner, self.model_config, self.args = learner, model_config, args
        self.run_dir, self.train_set, self.val_set = run_dir, train_set, val_set
        self.val_episodes, self.device, self.writer = val_episodes, device, writer
        a = args
        self.sampler = EpisodeSampler(train_set.labels, a["way"], a["shot"], a["query"],
                                      groups=train_set.groups, seed=a["seed"],
                                      n_episodes=a["episodes_per_epoch"])
        self.optimizer = torch.optim.Adam(learner.parameters(), lr=a["lr"])
        self.state = TrainState()

    def restore(self, checkpoint: dict[str, Any]) -> None:
        self.learner.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.state = TrainState(**checkpoint["state"])
        torch.set_rng_state(checkpoint["rng"]["torch"])
        if torch.cuda.is_available() and checkpoint["rng"].get("cuda"):
            torch.cuda.set_rng_state_all(checkpoint["rng"]["cuda"])

    def checkpoint(self) -> dict[str, Any]:
        return {"model": self.learner.state_dict(), "model_config": self.model_config,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": {"name": "cosine", "base_lr": self.args["lr"], "epochs": self.args["epochs"]},
                "state": self.state.to_dict(), "args": self.args,
                "rng": {"torch": torch.get_rng_state(),
                        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}}

    def fit(self) -> TrainState:
        epochs = self.args["epochs"]
        try:
            while self.state.epoch < epochs:
                self._train_epoch()
                self._end_epoch()
        except KeyboardInterrupt:
            save_checkpoint(self.checkpoint(), self.run_dir / "last.pt")
            tqdm.write(f"interrupted: progress saved; continue with --resume {self.run_dir}")
            raise
        return self.state

    def _train_epoch(self) -> None:
        a, s = self.args, self.state
        per_epoch = a["episodes_per_epoch"]
        self.sampler.set_epoch(s.epoch, skip=s.done_in_epoch)
        for group in self.optimizer.param_groups:
            group["lr"] = cosine_lr(a["lr"], s.epoch, a["epochs"])
        loader = DataLoader(self.train_set, batch_sampler=self.sampler, num_workers=a["workers"],
                            collate_fn=EpisodeCollate(a["way"], a["shot"], a["query"]))
        self.learner.train()
        bar = tqdm(total=per_epoch, initial=s.done_in_epoch, desc=f"epoch {s.epoch + 1}/{a['epochs']}",
                   unit="ep", dynamic_ncols=True, leave=False, disable=None)
        start, trained = time.perf_counter(), 0
        for episode in loader:
            step = s.epoch * per_epoch + s.done_in_epoch  # global episode index
            gen = torch.Generator().manual_seed(episode_seed(a["seed"], step, AUGMENT_STREAM))
            ep = episode.to(self.device)
            x = to_model_input(torch.cat([ep.support_x, ep.query_x]), self.model_config["mean"],
                               self.model_config["std"])
            x = augment(x, gen) if a["augment"] else x
            loss, logits = self.learner.episode_loss(x[: len(ep.support_x)], ep.support_y,
                                                     x[len(ep.support_x):], ep.query_y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()

            acc = (logits.argmax(-1) == ep.query_y).float().mean().item()
            s.loss_sum += loss.item()
            s.correct += acc
            s.seen += 1
            s.done_in_epoch += 1
            trained += 1
            bar.update(1)
            bar.set_postfix(loss=f"{s.loss_sum / s.seen:.3f}", acc=f"{100 * s.correct / s.seen:.1f}%")
            if self.writer is not None and step % 10 == 0:
                self.writer.add_scalar("train/episode_loss", loss.item(), step)
        bar.close()
        self._episodes_per_s = trained / max(time.perf_counter() - start, 1e-9)

    def _end_epoch(self) -> None:
        a, s = self.args, self.state
        accs = episode_accuracies(self.learner, self.val_set, self.val_episodes, a["val_way"], a["val_shot"],
                                  a["val_query"], self.device, self.model_config["mean"],
                                  self.model_config["std"])
        val_acc, val_ci = mean_ci95(accs)
        lr = self.optimizer.param_groups[0]["lr"]
        row = {"epoch": s.epoch + 1, "episode": (s.epoch + 1) * a["episodes_per_epoch"],
               "train_loss": s.loss_sum / max(s.seen, 1), "train_acc": s.correct / max(s.seen, 1),
               "val_acc": val_acc, "val_ci95": val_ci, "lr": lr,
               "episodes_per_s": self._episodes_per_s}
        improved = val_acc > s.best_val
        if improved:
            s.best_val, s.best_epoch = val_acc, s.epoch + 1
        s.history.append(row)
        s.epoch, s.done_in_epoch, s.loss_sum, s.correct, s.seen = s.epoch + 1, 0, 0.0, 0.0, 0

        state = self.checkpoint()
        save_checkpoint(state, self.run_dir / "last.pt")
        if improved:
            save_checkpoint(state, self.run_dir / "best.pt")
        write_csv(self.run_dir / "metrics.csv", s.history)
        if self.writer is not None:
            step = row["episode"]
            for key, tag in TENSORBOARD_TAGS.items():
                self.writer.add_scalar(tag, row[key], step)
            self.writer.flush()
        tqdm.write(f"epoch {row['epoch']}/{a['epochs']}  train loss {row['train_loss']:.3f} "
                   f"acc {100 * row['train_acc']:.1f}%  val {100 * val_acc:.2f} +- {100 * val_ci:.2f}%"
                   f"{'  (best)' if improved else ''}  {row['episodes_per_s']:.1f} episodes/s")
        sys.stdout.flush()  # logs redirected to a file show each epoch as it ends
