"""``python -m fewshot_fer.pretrain``: supervised pre-training for few-shot recognition.

The recipe of RFS ("Rethinking few-shot image classification", Tian et al. 2020), SimpleShot
(Wang et al. 2019) and Meta-Baseline (Chen et al. 2021): train the backbone as an ordinary
classifier over all training classes with mini-batches of faces, then recognise new classes by
the nearest class mean of its features (by default SimpleShot's: centred on the training
classes' mean feature, L2-normalised, Euclidean). Each epoch is selected on fixed few-shot
validation episodes (val split, e.g. unseen expressions), never on the test split.

The run directory is a normal one (``args.yaml``, ``metrics.csv``, TensorBoard, ``last.pt``,
``best.pt``): ``evaluate --checkpoint best.pt`` scores it as it is, and
``train --pretrained best.pt`` starts an episodic learner (e.g. a cosine ProtoNet, Meta-Baseline's
fine-tune) from its backbone.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch

from episodes import episode_seed, mean_ci95

from .baselines.supervised import train_epoch
from .cli import parse_recipe, recipe_parser, resolve_device, run_cli
from .engine.checkpoint import save_run_checkpoints
from .engine.lifecycle import begin_run, create_run, tensorboard_writer
from .weights import load_model_state
from .engine.evaluation import episode_accuracies
from .engine.precision import prepare_model
from .engine.rundir import write_metrics
from .engine.schedule import epoch_lr
from .model import build_model, load_trained, model_config, parse_options
from .features.centring import set_training_mean
from .recipes import PretrainRecipe
from .recipes.pretraining import DEFAULT_LEARNER_OPTIONS
from .training_data import input_config, load_data, load_val_episodes, save_val_episodes, validation_sampler

EPILOG = ("Example (FER2013 unseen expressions, ~10 min on a 2-core CPU): python -m fewshot_fer.pretrain --dataset "
          "fer2013 --data-root ../shared/data/fer2013 --classes anger,happiness,sadness,neutral --val-classes "
          "disgust,fear,surprise")

RECIPE = PretrainRecipe  # the settings this command runs


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``PretrainRecipe``."""
    return recipe_parser(PretrainRecipe, "python -m fewshot_fer.pretrain",
                         __doc__.split("\n\n")[0] + " " + __doc__.split("\n\n")[1], EPILOG)


def build_optimizer(parameters, s: dict[str, Any]) -> torch.optim.Optimizer:
    """``--optimizer``: Adam, or SGD with Nesterov momentum (RFS); runs saved before the flag
    existed trained with Adam."""
    if s.get("optimizer", "adam") == "sgd":
        return torch.optim.SGD(parameters, lr=s["lr"], momentum=s["momentum"], nesterov=s["momentum"] > 0,
                               weight_decay=s["weight_decay"])
    return torch.optim.Adam(parameters, lr=s["lr"], weight_decay=s["weight_decay"])


def main(argv: Sequence[str] | None = None) -> int:
    run(*parse_recipe(PretrainRecipe, build_parser(), argv))
    return 0


def run(recipe: PretrainRecipe, typed: Iterable[str] = ()) -> Path:
    """Pre-train ``recipe``; returns the run directory. ``typed``: the settings the user gave (with
    ``--resume``, only ``recipe.resumable`` ones may differ from the run's)."""
    device = resolve_device(recipe.run.device)
    start = begin_run(recipe, typed)
    s, checkpoint = start.settings, start.checkpoint
    s.setdefault("precision", "fp32")  # runs from before the flag trained in fp32
    train_set, val_set = load_data(s)
    print(f"train: {train_set}\nval:   {val_set}")
    s["train_classes"] = train_set.present_classes()  # lets benchmarks refuse leaks into unseen classes
    if s["val_way"] is None:
        s["val_way"] = min(5, len(val_set.present_classes()))
    val_sampler = validation_sampler(s, val_set)
    model, config = build_classifier(s, len(train_set.class_names), device, checkpoint is None)
    prepare_model(model, s["precision"])
    teacher = load_teacher(s["teacher"], s["train_classes"], config, device) if s.get("teacher") else None
    optimizer = build_optimizer(model.parameters(), s)
    if checkpoint is None:
        run_dir = create_run(s, ["pretrain", s["backbone"], s["dataset"]],
                             lambda where: save_val_episodes(val_sampler, val_set, where))
        progress = {"epoch": 0, "best_val": -1.0, "best_epoch": 0, "history": []}
    else:
        run_dir = start.run_dir
        load_model_state(model, config, checkpoint, run_dir / "last.pt")
        optimizer.load_state_dict(checkpoint["optimizer"])
        progress = checkpoint["progress"]
        print(f"resuming {run_dir} after epoch {progress['epoch']}")
    val_episodes = load_val_episodes(run_dir, val_set)
    writer = tensorboard_writer(run_dir, progress["epoch"] + 1 if checkpoint else None)
    try:
        train_epochs(model, optimizer, s, config, train_set, val_set, val_episodes, device, run_dir, writer, progress,
                     teacher)
    finally:
        writer.close()
    if progress["epoch"] < s["epochs"]:
        print(f"stopped after epoch {progress['epoch']}: no better validation accuracy in {s['patience']} epochs")
    print(f"best validation accuracy {100 * progress['best_val']:.2f}% at epoch {progress['best_epoch']} "
          f"({s['val_way']}-way {s['val_shot']}-shot, {len(val_episodes)} episodes of {val_set.name} val); "
          f"checkpoint {run_dir / 'best.pt'}")
    return run_dir


def load_teacher(path: str, classes: list[str], config: dict[str, Any], device: torch.device):
    """The frozen classifier of ``--teacher``, checked against the student: a classifier over the
    same training classes, reading faces in the same format."""
    teacher, checkpoint = load_trained(path, device)
    if not hasattr(teacher, "classify"):
        raise ValueError(f"--teacher {path} is a {checkpoint['model_config']['learner']} checkpoint; a teacher is a "
                         f"classifier (best.pt of a pretrain or selftrain run).")
    theirs = checkpoint.get("args", {}).get("train_classes")
    if theirs is not None and list(theirs) != list(classes):
        raise ValueError(f"--teacher {path} was trained on classes {theirs}, not on this run's {classes}.")
    wanted = {k: config[k] for k in ("image_size", "in_chans", "mean", "std")}
    got = {k: checkpoint["model_config"].get(k) for k in wanted}
    if got != wanted:
        raise ValueError(f"--teacher {path} reads faces as {got}, this run as {wanted}.")
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def build_classifier(s: dict[str, Any], n_classes: int, device: torch.device, fresh: bool) -> tuple[Any, dict]:
    """The classifier being pre-trained (a ``centroid`` learner with a class head) and its model
    config; ``fresh``: a new run, which starts from ``--pretrained`` weights when given."""
    options = {**DEFAULT_LEARNER_OPTIONS, **parse_options(s["learner_option"], "--learner-option"),
               "n_classes": n_classes}
    if s.get("rotation_loss"):
        options["rotation_head"] = True
    if s.get("contrastive_loss"):
        options["projection_head"] = True
    config = model_config("centroid", s["backbone"], s["channels"], s["image_size"], learner_kwargs=options,
                          backbone_kwargs=parse_options(s["backbone_option"], "--backbone-option"), **input_config(s))
    torch.manual_seed(s["seed"])
    model = build_model(config, s["pretrained"] if fresh else None).to(device)
    with torch.no_grad():  # a lazy classifier (neck=flatten) learns its input size from one batch
        probe = torch.zeros(2, s["channels"], s["image_size"], s["image_size"], device=device)
        model.eval().classify(probe)
        for head in (model.rotation, model.projection):
            if head is not None:
                head(model.penultimate(probe))
    return model, config


def train_epochs(model, optimizer, s: dict[str, Any], config: dict[str, Any], train_set, val_set,
                 val_episodes: list[list[int]], device: torch.device, run_dir: Path, writer,
                 progress: dict[str, Any], teacher=None) -> None:
    """Mini-batch epochs until ``--epochs`` or ``--patience``; after each, the nearest-centroid
    score on the fixed validation episodes, ``best.pt``/``last.pt``, ``metrics.csv`` and TensorBoard."""
    patience = s["patience"]
    while progress["epoch"] < s["epochs"] and not (patience and progress["epoch"] - progress["best_epoch"] >= patience):
        epoch = progress["epoch"]
        lr = epoch_lr(s["lr"], epoch, s["epochs"], s["lr_schedule"], s["warmup_epochs"])
        for group in optimizer.param_groups:
            group["lr"] = lr
        gen = torch.Generator().manual_seed(episode_seed(s["seed"], epoch, 3))
        torch.manual_seed(episode_seed(s["seed"], epoch, 4))  # dropout draws: resumable exactly
        loss, acc = train_epoch(model, train_set.images, train_set.labels, optimizer, gen, device, s["batch_size"],
                                config["mean"], config["std"], s["augmentation"], label_smoothing=s["label_smoothing"],
                                rotation_loss=s.get("rotation_loss", 0.0),
                                contrastive_loss=s.get("contrastive_loss", 0.0),
                                contrastive_temperature=s.get("contrastive_temperature", 0.1), teacher=teacher,
                                distill_weight=s.get("distill_weight", 0.5),
                                distill_temperature=s.get("distill_temperature", 4.0),
                                desc=f"epoch {epoch + 1}/{s['epochs']}", precision=s["precision"])
        if model.norm.needs_mean:
            set_training_mean(model, train_set.images, s["seed"], device, config)
        val_acc, val_ci = mean_ci95(episode_accuracies(model, val_set, val_episodes, s["val_way"], s["val_shot"],
                                                       s["val_query"], device, config["mean"], config["std"]))
        progress["epoch"] = epoch + 1
        row = {"epoch": epoch + 1, "train_loss": loss, "train_acc": acc, "val_acc": val_acc, "val_ci95": val_ci,
               "lr": lr, "faces_seen": (epoch + 1) * len(train_set)}
        progress["history"].append(row)
        improved = val_acc > progress["best_val"]
        if improved:
            progress["best_val"], progress["best_epoch"] = val_acc, epoch + 1
        state = {"model": model.state_dict(), "model_config": config, "optimizer": optimizer.state_dict(),
                 "args": s, "progress": progress, "command": "pretrain"}
        save_run_checkpoints(state, run_dir, improved)
        write_metrics(run_dir, progress["history"], f"python -m fewshot_fer.pretrain: {s['backbone']} on "
                                                        f"{s['dataset']}, run {run_dir.name}")
        for key in ("train_loss", "train_acc", "val_acc", "val_ci95", "lr"):
            writer.add_scalar(f"pretrain/{key}", row[key], epoch + 1)
        writer.flush()
        print(f"epoch {epoch + 1}/{s['epochs']}  loss {loss:.3f} train {100 * acc:.1f}%  val {100 * val_acc:.2f} "
              f"+- {100 * val_ci:.2f}%{'  (best)' if improved else ''}", flush=True)


if __name__ == "__main__":
    run_cli(main)
