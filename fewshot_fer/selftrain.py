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
from typing import Any, Sequence

import torch

from episodes import atomic_open

from .cli import HelpFormatter, add_debug_flag, check_ranges, parse_with_config, resolve_device, run_cli
from .data import DATASETS, add_loader_arguments, create_dataset, load_unlabeled, loader_options
from .baselines.pseudo_labels import SELECTIONS
from .baselines.self_training import score_on_test, split_labelled, test_report
from .baselines.supervised import MC_SCOPE_HELP, MC_SCOPES
from .engine.lifecycle import begin_run, create_run, tensorboard_writer
from .engine.self_trainer import SelfTrainer, SelfTrainingData
from .weights import load_model_state
from .engine.memory import keep_freed_memory
from .engine.schedule import SCHEDULE_HELP, check_schedule
from .labels import parse_classes
from .engine.precision import PRECISION_HELP, PRECISIONS, prepare_model
from .model import build_model, model_config, parse_options
from .training_data import add_input_arguments, input_config


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m fewshot_fer.selftrain", formatter_class=HelpFormatter,
                                description=__doc__.split("\n\n")[0],
                                epilog="Example (semi-supervised FER2013, CPU): python -m fewshot_fer.selftrain "
                                       "--dataset fer2013 --data-root ../shared/data/fer2013 --labelled-fraction 0.1")
    p.add_argument("--config", help="YAML file of settings; flags on the command line override it")
    d = p.add_argument_group("data")
    d.add_argument("--dataset", default="synthetic-basic", help=f"labelled dataset: {', '.join(DATASETS.names())}")
    d.add_argument("--data-root", default=None, help="folder of the dataset as unpacked")
    d.add_argument("--classes", default=None, help="comma-separated classes (default: all)")
    d.add_argument("--labelled-fraction", type=float, default=1.0,
                   help="share of the training split that keeps its labels (stratified, from --seed); the "
                        "rest is used as unlabeled faces")
    d.add_argument("--unlabeled-root", default=None, help="folder tree of unlabeled face images")
    d.add_argument("--unlabeled-limit", type=int, default=None, help="use at most this many unlabeled faces")
    add_input_arguments(d)
    add_loader_arguments(d)
    m = p.add_argument_group("model and supervised training")
    m.add_argument("--backbone", default="vgcnn", help="vgcnn (the study's CNN), resnet50, resnet18, ..., or timm:NAME (any timm model)")
    m.add_argument("--backbone-option", action="append", default=None, metavar="KEY=VALUE",
                   help="backbone setting, e.g. width=0.25 (vgcnn default: 1.0 on a GPU, 0.25 on a CPU)")
    m.add_argument("--pretrained", default=None, help="local file of backbone weights (e.g. ImageNet ResNet-50)")
    m.add_argument("--epochs", type=int, default=30, help="epochs of round 0 (supervised)")
    m.add_argument("--batch-size", type=int, default=64, help="images per training step, in every round")
    m.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate of round 0")
    m.add_argument("--l2", type=float, default=0.01, help="L2 penalty on the first convolution's weights")
    m.add_argument("--precision", default="fp32", choices=PRECISIONS, help=PRECISION_HELP + "; every round")
    m.add_argument("--no-augment", dest="augment", action="store_false", help="no flips and rotations")
    m.add_argument("--lr-schedule", default="constant", type=check_schedule,
                   help=f"{SCHEDULE_HELP}; restarts in every round, from that round's learning rate")
    s = p.add_argument_group("self-training")
    s.add_argument("--rounds", type=int, default=3, help="pseudo-labelling rounds after round 0")
    s.add_argument("--round-epochs", type=int, default=5, help="epochs of each pseudo-labelling round")
    s.add_argument("--round-lr-decay", type=float, default=0.5, help="round r trains with lr * decay^r")
    s.add_argument("--threshold", type=float, default=0.95, help="minimum soft-vote confidence of a pseudo-label")
    s.add_argument("--mc-passes", type=int, default=30,
                   help="MC-dropout passes (T), for choosing pseudo-labels and for the test-time soft vote")
    s.add_argument("--mc-scope", default="head", choices=MC_SCOPES, help=MC_SCOPE_HELP)
    s.add_argument("--selection", default="confidence", choices=SELECTIONS,
                   help="ranking of the confident faces within a class")
    s.add_argument("--class-cap", type=int, default=None,
                   help="pseudo-labels kept per class and round (default: the median labelled count per class)")
    s.add_argument("--rehearsal", default="all", type=parse_rehearsal,
                   help="labelled faces trained on again in each round: 'all', or 'sample:F' for a stratified "
                        "share F of them, drawn anew every round")
    s.add_argument("--fresh", type=float, default=0.0, metavar="FRACTION",
                   help="after the rounds, train a fresh member from scratch on this share of the labelled faces "
                        "plus the kept round's pseudo-labels, and score it and its soft-voting ensemble with the "
                        "kept round (0: off)")
    r = p.add_argument_group("run")
    r.add_argument("--seed", type=int, default=0,
                   help="seed of the labelled subset, initial weights, batches, augmentation and dropout")
    r.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    r.add_argument("--output", default="runs", help="folder that receives the run directory")
    r.add_argument("--name", default=None, help="run directory name")
    r.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue RUN_DIR from its next round "
                                                                     "(--rounds may be raised)")
    add_debug_flag(p)
    return p


def parse_rehearsal(text: str) -> str:
    """``all`` or ``sample:F`` with 0 < F <= 1; returned as given."""
    if text == "all":
        return text
    kind, _, value = text.partition(":")
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if kind != "sample" or not 0 < share <= 1:
        raise argparse.ArgumentTypeError(f"--rehearsal must be 'all' or 'sample:F' with F in (0, 1], got {text!r}")
    return text


def resolve(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    s = dict(vars(args))
    s.pop("config", None)
    options = parse_options(s["backbone_option"], "--backbone-option")
    if s["backbone"] == "vgcnn" and "width" not in options:
        options["width"] = 1.0 if device.type == "cuda" else 0.25  # the full network on a GPU
    s["backbone_options"] = options
    check_ranges(s, positive=("epochs", "round_epochs", "batch_size", "mc_passes", "image_size", "lr",
                              "round_lr_decay"), non_negative=("l2",))
    if s["rounds"] < 0:
        raise ValueError(f"--rounds must be >= 0, got {s['rounds']}.")
    if not 0 <= s["threshold"] <= 1:  # checked here, before round 0 trains, not when round 1 selects
        raise ValueError(f"--threshold must be a confidence from 0 to 1, got {s['threshold']}.")
    if s["class_cap"] is not None and s["class_cap"] < 1:
        raise ValueError(f"--class-cap must be at least 1 (pseudo-labels per class), got {s['class_cap']}.")
    if not 0 <= s["fresh"] <= 1:
        raise ValueError(f"--fresh must be a share in [0, 1] of the labelled faces, got {s['fresh']}.")
    return s


def main(argv: Sequence[str] | None = None) -> int:
    run(argv)
    return 0


def run(argv: Sequence[str] | None = None, parser: argparse.ArgumentParser | None = None
        ) -> tuple[Path, dict[str, Any]]:
    """``python -m fewshot_fer.selftrain ARGV``; returns the run directory and the test summary
    written to its ``summary.json`` (``fewshot_fer.api.selftrain`` calls it)."""
    parser = parser or build_parser()
    args = parse_with_config(parser, argv)
    device = resolve_device(args.device)
    keep_freed_memory()  # CPU steps reuse their big activation blocks (engine/memory.py)
    start = begin_run("selftrain", parser, args, argv, lambda: resolve(args, device), {"rounds", "device"})
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
