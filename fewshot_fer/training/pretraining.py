"""Running a supervised pre-training recipe (``PretrainRecipe``): a classifier over the training
classes, trained by the one training loop on mini-batches and selected on few-shot validation
episodes; ``fewshot_fer.commands.pretrain`` and ``fewshot_fer.api.pretrain`` call ``run``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import torch

from ..devices import resolve_device
from ..models.build import build_model, load_trained, model_config, parse_options
from ..weights import load_model_state
from .classification_task import ClassificationTask
from .data import input_config, load_data, load_val_episodes, save_val_episodes, validation_sampler
from .distributed import (
    DistContext,
    broadcast_module,
    broadcast_object,
    init_distributed,
    main_process_first,
    shutdown,
)
from .lifecycle import begin_run, create_run, fit_to_the_end, tensorboard_writer
from .recipes import PretrainRecipe
from .recipes.pretraining import DEFAULT_LEARNER_OPTIONS
from .trainer import TrainingLoop


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
    state = fit_to_the_end(loop, writer, s, log)
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
