"""Self-training: rounds of the one training loop (``trainer.TrainingLoop`` with a
``round_task.RoundTask``), pseudo-labelling between them.

Round 0 trains the classifier on the labelled faces; each later round pseudo-labels the unlabeled
faces with the current model's MC-dropout soft vote and trains on labelled (rehearsal) plus
pseudo-labelled faces. After every round: ``round<r>.pt``, ``best.pt`` (best validation round) and
``last.pt``, ``metrics.csv``. Optionally a fresh member is trained from scratch on part of the
labelled faces plus the kept round's pseudo-labels (``fresh.pt``).

Under ``torchrun`` every rank runs the rounds on the one training loop (its own share of the
batches, gradients averaged); rank 0 pseudo-labels and sends the labels to the others, and writes
every file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from episodes import episode_seed

from ..data.base import FaceDataset
from ..models.build import build_model
from ..weights import load_checkpoint, save_checkpoint
from .baselines.self_training import pseudo_labels, rehearsal_subset, split_labelled
from .checkpoint import save_run_checkpoints
from .distributed import DistContext, barrier, broadcast_module, broadcast_object
from .precision import prepare_model
from .round_task import LabelledFaces, RoundTask
from .rundir import write_metrics
from .trainer import TrainingLoop


@dataclass
class SelfTrainingData:
    """The faces of a self-training run: labelled ``x_lab`` ``[L, C, H, W]`` / ``y_lab`` ``[L]``,
    ``unlabeled`` ``[U, C, H, W]``, the validation set, and ``cap`` pseudo-labels per class at most."""

    train: FaceDataset
    val: FaceDataset
    x_lab: torch.Tensor
    y_lab: torch.Tensor
    unlabeled: torch.Tensor
    cap: int


class SelfTrainer:
    """Runs the rounds and the fresh member of one self-training run; ``progress`` (``next_round``,
    ``best_val``, ``best_round``, ``history``) is the resume record saved in every checkpoint."""

    def __init__(self, model: Any, config: dict[str, Any], settings: dict[str, Any], run_dir: Path,
                 data: SelfTrainingData, device: torch.device, writer: Any, progress: dict[str, Any],
                 dist: DistContext = DistContext()) -> None:
        self.model, self.config, self.s, self.run_dir = model, config, settings, run_dir
        self.data, self.device, self.writer, self.progress, self.dist = data, device, writer, progress, dist
        self.title = f"python -m fewshot_fer.selftrain: {settings['backbone']} on {settings['dataset']}, run {run_dir.name}"

    def _fit(self, net: Any, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float, label: int | str,
             extra: dict[str, Any]) -> float:
        """``epochs`` epochs of Adam from ``lr`` (``--lr-schedule`` within these epochs) on faces
        ``x`` ``[N, C, H, W]`` with labels ``y`` ``[N]``, on the one training loop; the rows go to
        the run's history; returns the validation accuracy after the last epoch."""
        history = self.progress["history"]
        task = RoundTask(net, self.config, self.s, LabelledFaces(x, y), self.data.val, self.device, label, extra,
                         len(history), self.dist)
        loop = TrainingLoop(net, self.config, {**self.s, "lr": lr, "epochs": epochs, "warmup_epochs": 0, "patience": 0},
                            self.run_dir, task, self.device, self.writer, self.dist, command="selftrain",
                            save_epochs=False)
        state = loop.fit()
        history.extend(state.history)
        return state.history[-1]["val_acc"]

    def fit_rounds(self, rounds: int) -> bool:
        """Rounds ``progress["next_round"]`` .. ``rounds``; whether any ran."""
        s, d, p, n = self.s, self.data, self.progress, len(self.data.train.class_names)
        ran = p["next_round"] <= rounds
        for r in range(p["next_round"], rounds + 1):
            x, y, kept = d.x_lab, d.y_lab, torch.zeros(n, dtype=torch.long)
            if r > 0:
                idx, pseudo = self._pseudo_labels(stream=r)
                keep = rehearsal_subset(d.y_lab, s["rehearsal"], s["seed"], r)
                x, y = torch.cat([d.x_lab[keep], d.unlabeled[idx]]), torch.cat([d.y_lab[keep], pseudo])
                kept = torch.bincount(pseudo, minlength=n)
            extra = {"pseudo_labels": int(kept.sum()),
                     **({f"pseudo_{c}": int(k) for c, k in zip(d.train.class_names, kept)} if r else {})}
            val_acc = self._fit(self.model, x, y, s["epochs"] if r == 0 else s["round_epochs"],
                                s["lr"] * s["round_lr_decay"] ** r, r, extra)
            improved = val_acc > p["best_val"]
            if improved:
                p["best_val"], p["best_round"] = val_acc, r
            p["next_round"] = r + 1
            if self.dist.is_main:
                write_metrics(self.run_dir, p["history"], self.title)
                state = {"model": self.model.state_dict(), "model_config": self.config, "args": s, "progress": p,
                         "command": "selftrain"}
                save_checkpoint(state, self.run_dir / f"round{r}.pt")
                save_run_checkpoints(state, self.run_dir, improved)
        barrier(self.dist)  # the checkpoints are written before any rank reads them
        return ran

    def _pseudo_labels(self, stream: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Rank 0's pseudo-labels (indices ``[M]`` of the unlabeled faces, labels ``[M]``) on every rank."""
        d = self.data
        mine = pseudo_labels(self.model, d.unlabeled, self.s, self.config, self.device, d.cap, stream) \
            if self.dist.is_main else None
        return broadcast_object(self.dist, mine)

    def fit_fresh(self, rounds: int, share: float, ran_rounds: bool) -> dict[str, Any] | None:
        """The fresh member (``share`` of the labelled faces plus the kept round's pseudo-labels), or
        ``None`` when ``share`` is 0; its record for the summary. ``self.model`` ends as the kept round's."""
        s, d, p = self.s, self.data, self.progress
        fresh_path = self.run_dir / "fresh.pt"
        if ran_rounds and fresh_path.is_file() and self.dist.is_main:
            fresh_path.unlink()  # made from an earlier kept round; this run's rounds may have changed it
        if not share:
            return None
        self.model.load_state_dict(load_checkpoint(self.run_dir / "best.pt")["model"])
        idx, pseudo = self._pseudo_labels(stream=rounds + 1)
        part = split_labelled(d.y_lab, s["fresh"], episode_seed(s["seed"], 0, 7))[0]
        record = {"share": s["fresh"], "labelled": len(part), "pseudo_labels": len(idx)}
        if not broadcast_object(self.dist, fresh_path.is_file()):  # one piece of work: a resumed run trains it again
            torch.manual_seed(episode_seed(s["seed"], 0, 8))
            fresh = prepare_model(build_model(self.config, s["pretrained"]), s["precision"], self.device).to(self.device)
            broadcast_module(self.dist, fresh)
            before = len(p["history"])
            self._fit(fresh, torch.cat([d.x_lab[part], d.unlabeled[idx]]), torch.cat([d.y_lab[part], pseudo]),
                      s["epochs"], s["lr"], "fresh", {"pseudo_labels": len(idx)})
            if self.dist.is_main:
                write_metrics(self.run_dir, p["history"], self.title)
                save_checkpoint({"model": fresh.state_dict(), "model_config": self.config, "args": s,
                                 "progress": {**p, "fresh": record}, "command": "selftrain"}, fresh_path)
            del p["history"][before:]  # kept in metrics.csv; last.pt stays the self-trained model's
            barrier(self.dist)
        return record
