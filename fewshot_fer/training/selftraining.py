"""Running a self-training recipe (``SelfTrainRecipe``): the self-training CNN baseline's rounds,
its fresh member and its one scoring of the test split; ``fewshot_fer.commands.selftrain`` and
``fewshot_fer.api.selftrain`` call ``run``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable

import torch

from episodes import atomic_open

from ..data import create_dataset, dataset_splits, load_unlabeled, loader_options
from ..data.catalog import near_threshold
from ..data.duplicates import leave_out_copies
from ..devices import resolve_device
from ..labels import parse_classes
from ..models.build import build_model, model_config, parse_options
from ..weights import load_model_state
from .baselines.self_training import score_on_test, split_labelled, test_report
from .data import input_config
from .distributed import (
    DistContext,
    broadcast_module,
    broadcast_object,
    init_distributed,
    main_process_first,
    shutdown,
)
from .lifecycle import begin_run, create_run, tensorboard_writer
from .precision import prepare_model
from .recipes import SelfTrainRecipe
from .self_trainer import SelfTrainer, SelfTrainingData


def resolve(recipe: SelfTrainRecipe, device: torch.device) -> dict[str, Any]:
    """The run's settings: the recipe's, and the backbone options it trains with (``vgcnn``: the
    full width on a GPU, a quarter on a CPU, unless ``width`` is given)."""
    s = recipe.settings()
    options = parse_options(s["backbone_option"], "--backbone-option")
    if s["backbone"] == "vgcnn" and "width" not in options:
        options["width"] = 1.0 if device.type == "cuda" else 0.25  # the full network on a GPU
    s["backbone_options"] = options
    return s


def run(recipe: SelfTrainRecipe, typed: Iterable[str] = ()) -> tuple[Path, dict[str, Any]]:
    """Self-train ``recipe``; returns the run directory and the test summary written to its
    ``summary.json``. ``typed``: the settings the user gave (with ``--resume``, only
    ``recipe.resumable`` ones may differ from the run's). Under ``torchrun``, on every process."""
    ctx, device = init_distributed(resolve_device(recipe.run.device))
    try:
        return run_selftraining(recipe, typed, ctx, device)
    finally:
        shutdown(ctx)


def run_selftraining(recipe: SelfTrainRecipe, typed: Iterable[str], ctx: DistContext,
                     device: torch.device) -> tuple[Path, dict[str, Any]]:
    log = print if ctx.is_main else (lambda *a, **k: None)
    start = begin_run(recipe, typed, lambda r: resolve(r, device))
    s, checkpoint = start.settings, start.checkpoint
    s.setdefault("precision", "fp32")  # runs from before the flag trained in fp32
    s["world_size"] = ctx.world_size
    load = lambda split: create_dataset(s["dataset"], split, s["data_root"], classes=parse_classes(s["classes"]),  # noqa: E731
                                        image_size=s["image_size"], channels=s["channels"],
                                        **loader_options(s, s["dataset"]))
    with main_process_first(ctx):  # rank 0 fills the decoded-image cache, the others read it
        data, labelled = read_faces(s, load, log)
    rounds = s["rounds"] if len(data.unlabeled) else 0
    fresh_share = s["fresh"] if len(data.unlabeled) else 0.0
    if (s["rounds"] or s["fresh"]) and not len(data.unlabeled):
        log("no unlabeled faces (give --unlabeled-root or --labelled-fraction below 1): supervised training only, "
            "no pseudo-labelling rounds and no fresh member")
    config = model_config("centroid", s["backbone"], s["channels"], s["image_size"],
                          learner_kwargs={"n_classes": len(data.train.class_names)},
                          backbone_kwargs=s["backbone_options"], **input_config(s))
    torch.manual_seed(s["seed"])
    model = build_model(config, s["pretrained"] if checkpoint is None else None)
    if checkpoint is None:
        run_dir = create_run(s, ["selftrain", s["backbone"], s["dataset"]]) if ctx.is_main else None
        progress = {"next_round": 0, "best_val": -1.0, "best_round": -1, "history": []}
    else:
        run_dir = start.run_dir
        load_model_state(model, config, checkpoint, run_dir / "last.pt")
        progress = checkpoint["progress"]
    run_dir = Path(broadcast_object(ctx, str(run_dir) if ctx.is_main else None))
    prepare_model(model, s["precision"], device).to(device)
    broadcast_module(ctx, model)  # every rank starts from rank 0's weights
    writer = tensorboard_writer(run_dir) if ctx.is_main else None
    trainer = SelfTrainer(model, config, s, run_dir, data, device, writer, progress, ctx)
    try:
        ran_rounds = trainer.fit_rounds(rounds)
        fresh_record = trainer.fit_fresh(rounds, fresh_share, ran_rounds)
    finally:
        if writer is not None:
            writer.close()
    summary = None
    if ctx.is_main:  # the one look at the test split
        test, copies = test_faces(s, load)
        summary = score_on_test(run_dir, test, model, s, config, device, progress, fresh_record)
        summary.update({"dataset": s["dataset"], "labelled": len(labelled), "unlabeled": len(data.unlabeled),
                        "duplicates_left_out": copies.left_out, **copies.summary()})
        with atomic_open(run_dir / "summary.json") as f:
            json.dump(summary, f, indent=2)
        print(test_report(summary, run_dir))
    return run_dir, broadcast_object(ctx, summary)


def test_faces(s: dict[str, Any], load: Any) -> tuple[Any, Any]:
    """The test split without the faces that copy training or validation faces (exactly, or nearly
    for real datasets) or another test face, as ``evaluate`` leaves them out; and the counts."""
    every = lambda split: create_dataset(s["dataset"], split, s["data_root"], image_size=s["image_size"],  # noqa: E731
                                         channels=s["channels"], **loader_options(s, s["dataset"]))
    test = load("test")
    if s.get("keep_duplicates"):
        return test, leave_out_copies(test, every, (), None, within=False)  # nothing compared, nothing left out
    copies = leave_out_copies(test, every, dataset_splits(s["dataset"]), near_threshold(s["dataset"]))
    if copies.left_out and not len(copies.kept):
        raise ValueError(f"every test face of {s['dataset']} copies a training, validation or other test face; "
                         f"nothing is left to score (--keep-duplicates scores them anyway).")
    if copies.left_out:
        print(f"test split: left out {copies.left_out} faces that copy training, validation or other test faces")
    return copies.kept, copies


def read_faces(s: dict[str, Any], load: Any, log: Any = print) -> tuple[SelfTrainingData, torch.Tensor]:
    """The labelled, unlabeled and validation faces of the run (``load(split)`` reads a split of the
    labelled dataset), and the indices of the training faces that keep their labels."""
    train, val = load("train"), load("val")
    s["train_classes"] = train.present_classes()  # lets the benchmark refuse leaks into unseen classes
    labelled, hidden = split_labelled(train.labels, s["labelled_fraction"], s["seed"])
    pool = [train.images[hidden]]
    if s["unlabeled_root"]:
        pool.append(load_unlabeled(s["unlabeled_root"], cache_dir=s.get("cache_dir"), image_size=s["image_size"],
                                   channels=s["channels"]).images)
    unlabeled = torch.cat(pool)[: s["unlabeled_limit"]]
    y_lab = train.labels[labelled]
    counts = torch.bincount(y_lab, minlength=len(train.class_names))
    cap = s["class_cap"] if s["class_cap"] is not None else int(counts[counts > 0].float().median())
    log(f"labelled: {len(labelled)} faces of {train}\nunlabeled: {len(unlabeled)} faces; val: {val}")
    return SelfTrainingData(train, val, train.images[labelled], y_lab, unlabeled, cap), labelled
