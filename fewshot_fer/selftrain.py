"""``python -m fewshot_fer.selftrain``: the self-training CNN baseline of the FER2013 study.

Round 0 trains a classifier (``vgcnn`` by default, or ``resnet50`` ...) on the labelled faces
(Adam, mini-batches of 64, flips and small rotations). Each later round predicts the unlabeled
faces with MC-dropout (T stochastic passes, soft vote), keeps those whose confidence reaches the
threshold, ranked by confidence, variance or BALD and capped per class, and trains on the
labelled faces (rehearsal: all of them, or a fresh stratified sample each round) plus these
pseudo-labels with a smaller learning rate. The round kept is the best on the validation split.
Optionally a fresh member is trained from scratch on part of the labelled faces plus the kept
round's pseudo-labels, and soft-votes with it (the study's ensemble). The test split is scored
once, at the end: every round, the fresh member and the ensemble, each with dropout off and with
the MC-dropout soft vote of ``--mc-passes`` passes (the study's final predictor).

Unlabeled faces come from ``--unlabeled-root`` (any folder tree of images) and/or from the
training split itself with ``--labelled-fraction`` below 1 (the semi-supervised protocol: the
other faces' labels are hidden).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch

from episodes import atomic_open

from .cli import parse_recipe, recipe_parser, resolve_device, run_cli
from .data import create_dataset, load_unlabeled, loader_options
from .baselines.self_training import score_on_test, split_labelled, test_report
from .engine.lifecycle import begin_run, create_run, tensorboard_writer
from .engine.self_trainer import SelfTrainer, SelfTrainingData
from .weights import load_model_state
from .labels import parse_classes
from .engine.precision import prepare_model
from .model import build_model, model_config, parse_options
from .recipes import SelfTrainRecipe
from .training_data import input_config


EPILOG = ("Example (semi-supervised FER2013, CPU): python -m fewshot_fer.selftrain --dataset fer2013 --data-root "
          "../shared/data/fer2013 --labelled-fraction 0.1")

RECIPE = SelfTrainRecipe  # the settings this command runs


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``SelfTrainRecipe``."""
    return recipe_parser(SelfTrainRecipe, "python -m fewshot_fer.selftrain", __doc__.split("\n\n")[0], EPILOG)


def resolve(recipe: SelfTrainRecipe, device: torch.device) -> dict[str, Any]:
    """The run's settings: the recipe's, and the backbone options it trains with (``vgcnn``: the
    full width on a GPU, a quarter on a CPU, unless ``width`` is given)."""
    s = recipe.settings()
    options = parse_options(s["backbone_option"], "--backbone-option")
    if s["backbone"] == "vgcnn" and "width" not in options:
        options["width"] = 1.0 if device.type == "cuda" else 0.25  # the full network on a GPU
    s["backbone_options"] = options
    return s


def main(argv: Sequence[str] | None = None) -> int:
    run(*parse_recipe(SelfTrainRecipe, build_parser(), argv))
    return 0


def run(recipe: SelfTrainRecipe, typed: Iterable[str] = ()) -> tuple[Path, dict[str, Any]]:
    """Self-train ``recipe``; returns the run directory and the test summary written to its
    ``summary.json``. ``typed``: the settings the user gave (with ``--resume``, only
    ``recipe.resumable`` ones may differ from the run's)."""
    device = resolve_device(recipe.run.device)
    start = begin_run(recipe, typed, lambda r: resolve(r, device))
    s, checkpoint = start.settings, start.checkpoint
    s.setdefault("precision", "fp32")  # runs from before the flag trained in fp32
    load = lambda split: create_dataset(s["dataset"], split, s["data_root"], classes=parse_classes(s["classes"]),  # noqa: E731
                                        image_size=s["image_size"], channels=s["channels"],
                                        **loader_options(s, s["dataset"]))
    data, labelled = read_faces(s, load)
    rounds = s["rounds"] if len(data.unlabeled) else 0
    fresh_share = s["fresh"] if len(data.unlabeled) else 0.0
    if (s["rounds"] or s["fresh"]) and not len(data.unlabeled):
        print("no unlabeled faces (give --unlabeled-root or --labelled-fraction below 1): supervised training only, "
              "no pseudo-labelling rounds and no fresh member")
    config = model_config("centroid", s["backbone"], s["channels"], s["image_size"],
                          learner_kwargs={"n_classes": len(data.train.class_names)},
                          backbone_kwargs=s["backbone_options"], **input_config(s))
    torch.manual_seed(s["seed"])
    model = build_model(config, s["pretrained"] if checkpoint is None else None)
    if checkpoint is None:
        run_dir = create_run(s, ["selftrain", s["backbone"], s["dataset"]])
        progress = {"next_round": 0, "best_val": -1.0, "best_round": -1, "history": []}
    else:
        run_dir = start.run_dir
        load_model_state(model, config, checkpoint, run_dir / "last.pt")
        progress = checkpoint["progress"]
    prepare_model(model, s["precision"]).to(device)
    writer = tensorboard_writer(run_dir)
    trainer = SelfTrainer(model, config, s, run_dir, data, device, writer, progress)
    try:
        ran_rounds = trainer.fit_rounds(rounds)
        fresh_record = trainer.fit_fresh(rounds, fresh_share, ran_rounds)
    finally:
        writer.close()
    summary = score_on_test(run_dir, load("test"), model, s, config, device, progress, fresh_record)
    summary.update({"dataset": s["dataset"], "labelled": len(labelled), "unlabeled": len(data.unlabeled)})
    with atomic_open(run_dir / "summary.json") as f:
        json.dump(summary, f, indent=2)
    print(test_report(summary, run_dir))
    return run_dir, summary


def read_faces(s: dict[str, Any], load: Any) -> tuple[SelfTrainingData, torch.Tensor]:
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
    print(f"labelled: {len(labelled)} faces of {train}\nunlabeled: {len(unlabeled)} faces; val: {val}")
    return SelfTrainingData(train, val, train.images[labelled], y_lab, unlabeled, cap), labelled


if __name__ == "__main__":
    run_cli(main)
