"""The one training loop: epochs of optimiser steps, validation after each epoch, checkpoints,
``metrics.csv``, TensorBoard and progress bars, exact resume (also from inside an epoch), a safe
stop on Ctrl-C / SIGTERM, several processes under ``torchrun`` (gradients averaged every step)
and bf16 for any recipe. What differs between methods is a small task module: an episode step
(``episode_task.EpisodeTask``) or a classification step (``classification_task.ClassificationTask``).

A task provides: ``unit`` (what one step trains: ``episode``, ``batch``), ``steps`` (steps per
epoch on each rank), ``batches(epoch, skip)`` (the rest of an epoch), ``loss(batch, step)`` ->
``(loss, correct, count)``, ``end_epoch()`` (before validation), ``validate()`` -> accuracy of
each fixed validation episode, ``metrics_row(common)``, ``report(row, improved)``,
``log(writer, row, improved)`` and ``state_dict`` / ``load_state_dict`` for its own random state."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from episodes import mean_ci95

from ..data.base import FaceDataset
from ..weights import save_checkpoint
from .checkpoint import save_run_checkpoints
from .distributed import DistContext, average_buffers, average_gradients, gather_objects, weights_fingerprint
from .divergence import check_loss
from .episode_task import EpisodeTask
from .interrupt import DeferredStop, StopRequested
from .optim import build_optimizer
from .precision import prepare_model
from .rundir import write_metrics, write_yaml
from .schedule import epoch_lr


@dataclass
class TrainState:
    """Where training stands; saved in every checkpoint so ``--resume`` continues exactly."""

    epoch: int = 0  # current (0-based) epoch
    done_in_epoch: int = 0  # steps of ``epoch`` already trained
    loss_sum: float = 0.0
    correct: float = 0.0
    seen: int = 0
    best_val: float = -math.inf
    best_epoch: int = -1
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class TrainingLoop:
    """Trains ``model`` step by step as ``task`` says and selects it on the task's validation.

    Under ``torchrun`` (``dist`` enabled) each rank trains its own share of the steps (the task
    draws them), gradients are averaged every step, validation episodes are split across the
    ranks, and only rank 0 shows progress and writes files (``writer`` is ``None`` elsewhere).
    ``args``: the run's settings (``lr``, ``epochs``, ``lr_schedule``, ``warmup_epochs``,
    ``patience``, ``precision``, optimiser settings); ``command``: the command that runs it,
    recorded in every checkpoint. ``save_epochs``: write ``best.pt``, ``last.pt`` and
    ``metrics.csv`` after every epoch; off for a loop that is one piece of a larger run (a
    self-training round, which its caller saves as a whole).
    """

    def __init__(self, model: torch.nn.Module, model_config: dict[str, Any], args: dict[str, Any], run_dir: Path,
                 task: Any, device: torch.device, writer=None, dist: DistContext = DistContext(),
                 command: str = "train", optimizer: torch.optim.Optimizer | None = None,
                 save_epochs: bool = True) -> None:
        self.learner, self.model_config, self.args, self.task = model, model_config, args, task
        self.run_dir, self.device, self.writer, self.dist, self.command = run_dir, device, writer, dist, command
        self.save_epochs = save_epochs
        self.precision = args.get("precision", "fp32")
        prepare_model(model, self.precision, device)
        self.steps = task.steps
        self.optimizer = optimizer or build_optimizer(model.parameters(), args)
        self.state = TrainState()
        self._stop = DeferredStop(enabled=False)  # replaced while fit() runs
        self._per_s = 0.0

    def restore(self, checkpoint: dict[str, Any]) -> None:
        self.learner.load_state_dict(checkpoint["model"])
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        known = set(TrainState.__dataclass_fields__)
        self.state = TrainState(**{k: v for k, v in checkpoint["progress"].items() if k in known})
        rng = checkpoint.get("rng")
        if rng is not None:  # checkpoints of every loop step hold it; older pretrain ones do not
            torch.set_rng_state(rng["torch"])
            if torch.cuda.is_available() and rng.get("cuda"):
                torch.cuda.set_rng_state_all(rng["cuda"])
        self.task.load_state_dict(checkpoint.get("task", {}))

    def checkpoint(self) -> dict[str, Any]:
        return {"model": self.learner.state_dict(), "model_config": self.model_config,
                "optimizer": self.optimizer.state_dict(),
                "scheduler": {"name": self.args.get("lr_schedule", "cosine"), "base_lr": self.args["lr"],
                              "epochs": self.args["epochs"], "warmup": self.args.get("warmup_epochs", 0)},
                "progress": self.state.to_dict(), "args": self.args, "command": self.command,
                "task": self.task.state_dict(),
                "rng": {"torch": torch.get_rng_state(),
                        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}}

    def fit(self) -> TrainState:
        """Train until ``--epochs`` or early stopping. Ctrl-C or SIGTERM stops at the next step
        boundary (one process; under torchrun at once) and saves ``last.pt`` there, so ``--resume``
        continues to the same weights and batch-norm statistics as an uninterrupted run."""
        epochs = self.args["epochs"]
        with DeferredStop(enabled=not self.dist.enabled) as stop:
            self._stop = stop
            if self.save_epochs and self.dist.is_main and not (self.run_dir / "last.pt").exists():
                # the starting point: a run killed (kill -9, power loss) in its first epoch can be resumed
                save_checkpoint(self.checkpoint(), self.run_dir / "last.pt")
            try:
                while self.state.epoch < epochs and not self.patience_exhausted():
                    self.train_epoch()
                    self._end_epoch()
                    stop.check()
            except StopRequested as why:
                if self.dist.is_main and not self.save_epochs:
                    tqdm.write(f"stopped ({why}) in epoch {self.state.epoch + 1}; continue with --resume "
                               f"{self.run_dir} (from the last piece of the run that was saved)")
                elif self.dist.is_main:
                    save_checkpoint(self.checkpoint(), self.run_dir / "last.pt")
                    tqdm.write(f"stopped ({why}) after {self.task.unit} {self.state.done_in_epoch} of epoch "
                               f"{self.state.epoch + 1}: progress saved; continue with --resume {self.run_dir}")
                raise
            except KeyboardInterrupt:
                if self.dist.is_main and not stop.enabled and self.save_epochs:  # torchrun: save where we are
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
        """Train the rest of the current epoch; returns steps per second (all ranks)."""
        a, s = self.args, self.state
        for group in self.optimizer.param_groups:
            group["lr"] = epoch_lr(a["lr"], s.epoch, a["epochs"], a.get("lr_schedule", "cosine"),
                                   a.get("warmup_epochs", 0))
        batches = self.task.batches(s.epoch, s.done_in_epoch)
        self.learner.train()
        bar = tqdm(total=self.steps, initial=s.done_in_epoch, desc=f"epoch {s.epoch + 1}/{a['epochs']}",
                   unit="step", dynamic_ncols=True, leave=False, disable=None if self.dist.is_main else True)
        params = [p for p in self.learner.parameters() if p.requires_grad]
        start, trained = time.perf_counter(), 0
        for batch in batches:
            step = s.epoch * self.steps + s.done_in_epoch  # global step index
            loss, correct, count = self.task.loss(batch, step)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            # one all-reduce carries the gradients and the step's loss and accuracy (no-op alone)
            loss_acc = average_gradients(self.dist, params, torch.stack([loss.detach().float(), correct.float()]))
            check_loss(loss_acc[0].item(), f"epoch {s.epoch + 1}, {self.task.unit} {s.done_in_epoch + 1}")
            self.optimizer.step()  # after the check: the weights stay finite

            s.loss_sum += loss_acc[0].item() * count
            s.correct += loss_acc[1].item()
            s.seen += count
            s.done_in_epoch += 1
            trained += 1
            bar.update(1)
            bar.set_postfix(loss=f"{s.loss_sum / s.seen:.3f}", acc=f"{100 * s.correct / s.seen:.1f}%")
            if self.writer is not None and step % 10 == 0:
                self.writer.add_scalar(f"train/{self.task.unit}_loss", loss_acc[0].item(), step)
            self._stop.check()  # a step boundary: the checkpoint is consistent here
        bar.close()
        self._per_s = trained * self.dist.world_size / max(time.perf_counter() - start, 1e-9)
        return self._per_s

    def validate(self) -> torch.Tensor:
        """Accuracy of each fixed validation episode, ``[n_val_episodes]`` (the task's)."""
        return self.task.validate()

    def _end_epoch(self) -> None:
        s = self.state
        average_buffers(self.dist, self.learner)  # same batch-norm statistics on every rank
        self.task.end_epoch()
        accs = self.validate()
        val_acc, val_ci = mean_ci95(accs)
        common = {"epoch": s.epoch + 1, "train_loss": s.loss_sum / max(s.seen, 1),
                  "train_acc": s.correct / max(s.seen, 1), "val_acc": val_acc, "val_ci95": val_ci,
                  "lr": self.optimizer.param_groups[0]["lr"], "per_s": self._per_s}
        row = self.task.metrics_row(common)
        improved = val_acc > s.best_val
        if improved:
            s.best_val, s.best_epoch = val_acc, s.epoch + 1
        s.history.append(row)
        s.epoch, s.done_in_epoch, s.loss_sum, s.correct, s.seen = s.epoch + 1, 0, 0.0, 0.0, 0
        self._check_ranks_agree()
        if not self.dist.is_main:
            return

        if self.save_epochs:
            save_run_checkpoints(self.checkpoint(), self.run_dir, improved)
            write_metrics(self.run_dir, s.history, f"python -m fewshot_fer.{self.command}: {self.task.title}, run "
                                                   f"{self.run_dir.name}")
        if self.writer is not None:
            self.task.log(self.writer, row, improved)
            self.writer.flush()
        tqdm.write(self.task.report(row, improved))
        sys.stdout.flush()  # logs redirected to a file show each epoch as it ends

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


class EpisodicTrainer(TrainingLoop):
    """The loop with an episode task: trains ``learner`` on episodes of ``train_set`` and selects
    it on the fixed ``val_episodes`` of ``val_set`` (``python -m fewshot_fer.train``)."""

    def __init__(self, learner: torch.nn.Module, model_config: dict[str, Any], args: dict[str, Any],
                 run_dir: Path, train_set: FaceDataset, val_set: FaceDataset, val_episodes: list[list[int]],
                 device: torch.device, writer=None, dist: DistContext = DistContext()) -> None:
        task = EpisodeTask(learner, model_config, args, train_set, val_set, val_episodes, device, dist)
        super().__init__(learner, model_config, args, run_dir, task, device, writer, dist, command="train")
