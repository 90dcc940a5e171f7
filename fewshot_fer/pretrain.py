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

from .cli import parse_recipe, recipe_parser, resolve_device, run_cli
from .engine.classification_task import ClassificationTask
from .engine.distributed import (DistContext, broadcast_module, broadcast_object, init_distributed,
                                 main_process_first, shutdown)
from .engine.lifecycle import begin_run, create_run, tensorboard_writer
from .engine.trainer import TrainingLoop
from .weights import load_model_state
from .model import build_model, load_trained, model_config, parse_options
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


def main(argv: Sequence[str] | None = None) -> int:
    run(*parse_recipe(PretrainRecipe, build_parser(), argv))
    return 0


def run(recipe: PretrainRecipe, typed: Iterable[str] = ()) -> Path:
    """Pre-train ``recipe``; returns the run directory. ``typed``: the settings the user gave (with
    ``--resume``, only ``recipe.resumable`` ones may differ from the run's)."""
    ctx, device = init_distributed(resolve_device(recipe.run.device))
    try:
        return run_pretraining(recipe, typed, ctx, device)
    finally:
        shutdown(ctx)


def run_pretraining(recipe: PretrainRecipe, typed: Iterable[str], ctx: DistContext, device: torch.device) -> Path:
    log = print if ctx.is_main else (lambda *a, **k: None)
    start = begin_run(recipe, typed)
    s, checkpoint, run_dir = start.settings, start.checkpoint, start.run_dir
    s.setdefault("precision", "fp32")  # runs from before the flag trained in fp32
    if checkpoint is not None and checkpoint["progress"].get("done_in_epoch") and \
            s.get("world_size", 1) != ctx.world_size:
        raise ValueError(f"{run_dir / 'last.pt'} stopped inside an epoch with {s.get('world_size', 1)} process(es); "
                         f"resume it with the same number, not {ctx.world_size}.")
    s["world_size"] = ctx.world_size
    with main_process_first(ctx):  # rank 0 fills the decoded-image cache, the others read it
        train_set, val_set = load_data(s)
    log(f"train: {train_set}\nval:   {val_set}")
    s["train_classes"] = train_set.present_classes()  # lets benchmarks refuse leaks into unseen classes
    if s["val_way"] is None:
        s["val_way"] = min(5, len(val_set.present_classes()))
    val_sampler = validation_sampler(s, val_set, log)
    model, config = build_classifier(s, len(train_set.class_names), device, checkpoint is None)
    teacher = load_teacher(s["teacher"], s["train_classes"], config, device) if s.get("teacher") else None
    if checkpoint is None and ctx.is_main:
        run_dir = create_run(s, ["pretrain", s["backbone"], s["dataset"]],
                             lambda where: save_val_episodes(val_sampler, val_set, where))
    elif checkpoint is not None:
        load_model_state(model, config, checkpoint, run_dir / "last.pt")
    run_dir = Path(broadcast_object(ctx, str(run_dir) if ctx.is_main else None))
    broadcast_module(ctx, model)  # every rank starts from rank 0's weights
    val_episodes = load_val_episodes(run_dir, val_set)
    task = ClassificationTask(model, config, s, train_set, val_set, val_episodes, device, ctx, teacher)
    epochs_done = checkpoint["progress"]["epoch"] if checkpoint else 0
    writer = tensorboard_writer(run_dir, epochs_done + 1 if checkpoint else None) if ctx.is_main else None
    loop = TrainingLoop(model, config, s, run_dir, task, device, writer, ctx, command="pretrain")
    if checkpoint is not None:
        loop.restore(checkpoint)
        log(f"resuming {run_dir} at epoch {loop.state.epoch + 1}, batch {loop.state.done_in_epoch + 1} of it")
    try:
        state = loop.fit()
    finally:
        if writer is not None:
            writer.close()
    if state.epoch < s["epochs"]:
        log(f"stopped after epoch {state.epoch}: no better validation accuracy in {s['patience']} epochs")
    log(f"best validation accuracy {100 * state.best_val:.2f}% at epoch {state.best_epoch} "
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


if __name__ == "__main__":
    run_cli(main)
