"""Running an episodic recipe (``EpisodicRecipe``): a few-shot learner trained on episodes by the
one training loop, on one process or several; ``fewshot_fer.commands.train`` and
``fewshot_fer.api.train`` call ``run``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import torch

from ..data import FaceDataset
from ..devices import resolve_device
from ..learners import FewShotLearner
from ..models.build import build_model, model_config, parse_options
from ..weights import load_model_state
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
from .recipes import EpisodicRecipe
from .rundir import read_yaml, write_yaml
from .trainer import EpisodicTrainer


def run(recipe: EpisodicRecipe, typed: Iterable[str] = (), backbone: torch.nn.Module | None = None,
        learner: FewShotLearner | None = None, data: tuple[FaceDataset, FaceDataset] | None = None) -> Path:
    """Train ``recipe``; returns the run directory. ``typed``: the settings the user gave (with
    ``--resume``, only ``recipe.resumable`` ones may differ from the run's). ``backbone``: a module
    to train in place of the recipe's named one (``fewshot_fer.api.train(backbone=...)``); ``learner``:
    a learner object (with its backbone) to train in place of the recipe's named one; ``data``: the
    (training, validation) ``FaceDataset`` objects to train on in place of the recipe's datasets."""
    ctx, device = init_distributed(resolve_device(recipe.run.device))
    try:
        return run_training(recipe, typed, ctx, device, backbone, learner, data)
    finally:
        shutdown(ctx)


def prepare(settings: dict[str, Any], fresh: bool, ctx: DistContext, log: Any,
            backbone: torch.nn.Module | None = None, given: FewShotLearner | None = None,
            data: tuple[FaceDataset, FaceDataset] | None = None) -> tuple:
    """The model config, the learner (``fresh``: from ``--pretrained`` when given), the training
    and validation sets and the validation sampler; episode sizes are checked before any run
    directory is made."""
    # the model first: a wrong option or weights file stops the run before any data is read
    config = model_config(settings["learner"], settings["backbone"], settings["channels"],
                          settings["image_size"],
                          learner_kwargs=parse_options(settings.get("learner_option"), "--learner-option"),
                          backbone_kwargs=parse_options(settings.get("backbone_option"), "--backbone-option"),
                          **input_config(settings))
    learner = build_model(config, settings["pretrained"] if fresh else None, backbone, given)
    with main_process_first(ctx):  # rank 0 fills the decoded-image cache, the others read it
        train_set, val_set = load_data(settings, data)
    log(f"train: {train_set}\nval:   {val_set}")
    # "15 query images per class unless a class is too small": a small class lowers the query
    # size (with a note) rather than stopping the run; args.yaml keeps the sizes used.
    val_sampler = validation_sampler(settings, val_set, log)
    settings["query"] = train_set.fit_query(settings["shot"], settings["query"], "training", log)
    # The trainer builds its own training sampler; checking the episode size here stops an
    # impossible one before any run directory is made.
    train_set.episode_sampler(settings["way"], settings["shot"], settings["query"], "training")
    return config, learner, train_set, val_set, val_sampler


def run_training(recipe: EpisodicRecipe, typed: Iterable[str], ctx: DistContext, device: torch.device,
                 backbone: torch.nn.Module | None = None, given: FewShotLearner | None = None,
                 data: tuple[FaceDataset, FaceDataset] | None = None) -> Path:
    log = print if ctx.is_main else (lambda *a, **k: None)
    start = begin_run(recipe, typed)
    settings, checkpoint, run_dir = start.settings, start.checkpoint, start.run_dir
    if checkpoint is not None and checkpoint["progress"]["done_in_epoch"] and \
            settings.get("world_size", 1) != ctx.world_size:
        raise ValueError(f"{run_dir / 'last.pt'} stopped inside an epoch with {settings.get('world_size', 1)} "
                         f"process(es); resume it with the same number, not {ctx.world_size}.")
    settings["world_size"] = ctx.world_size
    torch.manual_seed(settings["seed"])

    config, learner, train_set, val_set, val_sampler = prepare(settings, checkpoint is None, ctx, log, backbone, given, data)
    # channels_last lets oneDNN / cuDNN pick faster convolution kernels (about 20% on a CPU).
    learner = learner.to(device, memory_format=torch.channels_last)
    if checkpoint is None and ctx.is_main:
        run_dir = create_run(settings, [settings["learner"], settings["backbone"], settings["dataset"]],
                             lambda where: save_val_episodes(val_sampler, val_set, where))
    elif checkpoint is not None:
        load_model_state(learner, config, checkpoint, run_dir / "last.pt")
        if ctx.is_main:
            write_yaml(run_dir / "args.yaml", {**read_yaml(run_dir / "args.yaml"), **settings})
    run_dir = Path(broadcast_object(ctx, str(run_dir) if ctx.is_main else None))
    broadcast_module(ctx, learner)  # every rank starts from rank 0's weights
    val_episodes = load_val_episodes(run_dir, val_set)

    step = 0 if checkpoint is None else checkpoint["progress"]["epoch"] * settings["episodes_per_epoch"]
    writer = tensorboard_writer(run_dir, step if checkpoint else None) if ctx.is_main else None
    trainer = EpisodicTrainer(learner, config, settings, run_dir, train_set, val_set, val_episodes,
                              device, writer, ctx)
    if checkpoint is not None:
        trainer.restore(checkpoint)
        if trainer.state.epoch >= settings["epochs"] or trainer.patience_exhausted():
            why = (f"all {settings['epochs']} epochs" if trainer.state.epoch >= settings["epochs"]
                   else f"early stopping after epoch {trainer.state.epoch}")
            log(f"{run_dir} is finished ({why}; best validation accuracy {100 * trainer.state.best_val:.2f}% at "
                f"epoch {trainer.state.best_epoch}); nothing to train. Raise --epochs (or --patience) to train on.")
            if writer is not None:
                writer.close()
            return run_dir
        log(f"resuming {run_dir} at epoch {trainer.state.epoch + 1}, episode "
            f"{trainer.state.done_in_epoch + 1} of it")
    where = f" on {ctx.world_size} processes ({ctx.backend})" if ctx.enabled else ""
    log(f"run directory: {run_dir}{where}  (tensorboard --logdir {run_dir.parent})")
    state = fit_to_the_end(trainer, writer, settings, log)
    best = next(r for r in state.history if r["epoch"] == state.best_epoch)
    ci = f"{100 * best['val_acc']:.2f} +- {100 * best['val_ci95']:.2f}%"
    log(f"best validation accuracy {ci} at epoch {state.best_epoch} "
        f"({settings['val_way']}-way {settings['val_shot']}-shot, {len(val_episodes)} episodes of "
        f"{val_set.name} {val_set.split}); checkpoint {run_dir / 'best.pt'}")
    return run_dir
