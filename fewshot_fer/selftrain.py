"""``python -m fewshot_fer.selftrain``: the self-training CNN baseline of the FER2013 study.

Round 0 trains a classifier (``vgcnn`` by default, or ``resnet50`` ...) on the labelled faces
(Adam, mini-batches of 64, flips and small rotations). Each later round predicts the unlabeled
faces with MC-dropout (T stochastic passes, soft vote), keeps those whose confidence reaches the
threshold, ranked by confidence, variance or BALD and capped per class, and trains on the
labelled faces (rehearsal) plus these pseudo-labels with a smaller learning rate. The round kept
is the best on the validation split; the test split is scored once, at the end.

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

from episodes import atomic_open, episode_seed

from .cli import HelpFormatter, explicit_flags, parse_with_config, resolve_device, run_cli
from .data import DATASETS, add_loader_arguments, create_dataset, load_unlabeled, loader_options
from .baselines.pseudo_labels import SELECTIONS, select
from .baselines.supervised import MC_SCOPE_HELP, MC_SCOPES, accuracy, mc_dropout_probs, train_epoch
from .engine.checkpoint import load_checkpoint, load_model_state, load_run_checkpoint, save_checkpoint
from .engine.memory import keep_freed_memory
from .engine.rundir import environment, new_run_dir, write_metrics, write_yaml
from .labels import parse_classes
from .model import build_model, model_config, parse_options


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
    d.add_argument("--image-size", type=int, default=48, help="faces are resized to this many pixels square")
    d.add_argument("--channels", type=int, default=1, choices=(1, 3), help="1 grayscale, 3 RGB")
    add_loader_arguments(d)
    m = p.add_argument_group("model and supervised training")
    m.add_argument("--backbone", default="vgcnn", help="vgcnn (the study's CNN), resnet50, resnet18, ...")
    m.add_argument("--backbone-option", action="append", default=None, metavar="KEY=VALUE",
                   help="backbone setting, e.g. width=0.25 (vgcnn default: 1.0 on a GPU, 0.25 on a CPU)")
    m.add_argument("--pretrained", default=None, help="local file of backbone weights (e.g. ImageNet ResNet-50)")
    m.add_argument("--epochs", type=int, default=30, help="epochs of round 0 (supervised)")
    m.add_argument("--batch-size", type=int, default=64, help="images per training step, in every round")
    m.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate of round 0")
    m.add_argument("--l2", type=float, default=0.01, help="L2 penalty on the first convolution's weights")
    m.add_argument("--no-augment", dest="augment", action="store_false", help="no flips and rotations")
    s = p.add_argument_group("self-training")
    s.add_argument("--rounds", type=int, default=3, help="pseudo-labelling rounds after round 0")
    s.add_argument("--round-epochs", type=int, default=5, help="epochs of each pseudo-labelling round")
    s.add_argument("--round-lr-decay", type=float, default=0.5, help="round r trains with lr * decay^r")
    s.add_argument("--threshold", type=float, default=0.95, help="minimum soft-vote confidence of a pseudo-label")
    s.add_argument("--mc-passes", type=int, default=30, help="MC-dropout passes (T)")
    s.add_argument("--mc-scope", default="head", choices=MC_SCOPES, help=MC_SCOPE_HELP)
    s.add_argument("--selection", default="confidence", choices=SELECTIONS,
                   help="ranking of the confident faces within a class")
    s.add_argument("--class-cap", type=int, default=None,
                   help="pseudo-labels kept per class and round (default: the median labelled count per class)")
    r = p.add_argument_group("run")
    r.add_argument("--seed", type=int, default=0,
                   help="seed of the labelled subset, initial weights, batches, augmentation and dropout")
    r.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    r.add_argument("--output", default="runs", help="folder that receives the run directory")
    r.add_argument("--name", default=None, help="run directory name")
    r.add_argument("--resume", default=None, metavar="RUN_DIR", help="continue RUN_DIR from its next round "
                                                                     "(--rounds may be raised)")
    return p


def split_labelled(labels: torch.Tensor, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stratified ``(labelled, unlabeled)`` indices: ``fraction`` of every class keeps its label
    (at least one item per class)."""
    if not 0 < fraction <= 1:
        raise ValueError(f"--labelled-fraction must be in (0, 1], got {fraction}.")
    gen = torch.Generator().manual_seed(seed)
    keep, rest = [], []
    for c in torch.unique(labels).tolist():
        idx = (labels == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        n = max(1, round(fraction * len(idx)))
        keep.append(idx[:n])
        rest.append(idx[n:])
    return torch.sort(torch.cat(keep)).values, torch.sort(torch.cat(rest)).values


def resolve(args: argparse.Namespace, device: torch.device) -> dict[str, Any]:
    s = dict(vars(args))
    s.pop("config", None)
    options = parse_options(s["backbone_option"], "--backbone-option")
    if s["backbone"] == "vgcnn" and "width" not in options:
        options["width"] = 1.0 if device.type == "cuda" else 0.25  # the full network on a GPU
    s["backbone_options"] = options
    for key in ("epochs", "batch_size", "mc_passes", "image_size"):
        if s[key] <= 0:
            raise ValueError(f"--{key.replace('_', '-')} must be positive, got {s[key]}.")
    if s["rounds"] < 0:
        raise ValueError(f"--rounds must be >= 0, got {s['rounds']}.")
    return s


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse_with_config(parser, argv)
    device = resolve_device(args.device)
    keep_freed_memory()  # CPU steps reuse their big activation blocks (engine/memory.py)
    checkpoint = None
    if args.resume:
        run_dir = Path(args.resume)
        checkpoint = load_run_checkpoint(run_dir, "selftrain", "progress")
        s = dict(checkpoint["args"])
        for key in explicit_flags(parser, argv) & {"rounds", "device"}:
            s[key] = getattr(args, key)
    else:
        s = resolve(args, device)
    size = {"image_size": s["image_size"], "channels": s["channels"]}
    load = lambda split: create_dataset(s["dataset"], split, s["data_root"], classes=parse_classes(s["classes"]),
                                        **size, **loader_options(s, s["dataset"]))
    train, val = load("train"), load("val")
    s["train_classes"] = train.present_classes()  # lets the benchmark refuse leaks into unseen classes
    labelled, hidden = split_labelled(train.labels, s["labelled_fraction"], s["seed"])
    pool = [train.images[hidden]]
    if s["unlabeled_root"]:
        pool.append(load_unlabeled(s["unlabeled_root"], cache_dir=s.get("cache_dir"), **size).images)
    unlabeled = torch.cat(pool)[: s["unlabeled_limit"]]
    rounds = s["rounds"] if len(unlabeled) else 0
    if s["rounds"] and not len(unlabeled):
        print("no unlabeled faces (give --unlabeled-root or --labelled-fraction below 1): supervised training only")
    x_lab, y_lab = train.images[labelled], train.labels[labelled]
    counts = torch.bincount(y_lab, minlength=len(train.class_names))
    cap = s["class_cap"] if s["class_cap"] is not None else int(counts[counts > 0].float().median())
    print(f"labelled: {len(labelled)} faces of {train}\nunlabeled: {len(unlabeled)} faces; val: {val}")

    config = model_config("centroid", s["backbone"], s["channels"], s["image_size"],
                          learner_kwargs={"n_classes": len(train.class_names)}, backbone_kwargs=s["backbone_options"])
    torch.manual_seed(s["seed"])
    model = build_model(config, s["pretrained"] if checkpoint is None else None)
    if checkpoint is None:
        run_dir = new_run_dir(s["output"], s["name"], ["selftrain", s["backbone"], s["dataset"]])
        write_yaml(run_dir / "args.yaml", s)
        write_yaml(run_dir / "environment.yaml", environment())
        progress = {"next_round": 0, "best_val": -1.0, "best_round": -1, "history": []}
    else:
        load_model_state(model, config, checkpoint, run_dir / "last.pt")
        progress = checkpoint["progress"]
    model.to(device)
    from torch.utils.tensorboard import SummaryWriter  # slow to import

    writer = SummaryWriter(log_dir=str(run_dir))
    for r in range(progress["next_round"], rounds + 1):
        x, y, kept = x_lab, y_lab, torch.zeros(len(train.class_names), dtype=torch.long)
        if r > 0:
            probs = mc_dropout_probs(model, unlabeled, s["mc_passes"], device, seed=episode_seed(s["seed"], r, 2),
                                     scope=s["mc_scope"], mean=config["mean"], std=config["std"])
            idx, pseudo = select(probs, s["threshold"], s["selection"], cap)
            x, y = torch.cat([x_lab, unlabeled[idx]]), torch.cat([y_lab, pseudo])  # rehearsal: labelled every round
            kept = torch.bincount(pseudo, minlength=len(train.class_names))
        lr = s["lr"] * s["round_lr_decay"] ** r
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        for epoch in range(s["epochs"] if r == 0 else s["round_epochs"]):
            gen = torch.Generator().manual_seed(episode_seed(s["seed"], r * 1000 + epoch, 3))
            torch.manual_seed(episode_seed(s["seed"], r * 1000 + epoch, 4))  # dropout: resumable exactly
            loss, acc = train_epoch(model, x, y, optimizer, gen, device, s["batch_size"], config["mean"],
                                    config["std"], "flip-rotate" if s["augment"] else "none", s["l2"],
                                    desc=f"round {r} epoch {epoch + 1}")
            val_acc = accuracy(model, val.images, val.labels, device, config["mean"], config["std"])
            row = {"round": r, "epoch": epoch + 1, "train_loss": loss, "train_acc": acc, "val_acc": val_acc, "lr": lr,
                   "pseudo_labels": int(kept.sum()),
                   **({f"pseudo_{n}": int(k) for n, k in zip(train.class_names, kept)} if r else {})}
            progress["history"].append(row)
            step = len(progress["history"])
            for key in ("train_loss", "train_acc", "val_acc", "lr", "pseudo_labels"):
                writer.add_scalar(f"selftrain/{key}", row[key], step)
            print(f"round {r} epoch {epoch + 1}: loss {loss:.3f} train {100 * acc:.1f}% val {100 * val_acc:.2f}%"
                  f"{f'  ({int(kept.sum())} pseudo-labels)' if r else ''}", flush=True)
        write_metrics(run_dir, progress["history"], f"python -m fewshot_fer.selftrain: {s['backbone']} on "
                                                            f"{s['dataset']}, run {run_dir.name}")
        improved = val_acc > progress["best_val"]
        if improved:
            progress["best_val"], progress["best_round"] = val_acc, r
        progress["next_round"] = r + 1
        state = {"model": model.state_dict(), "model_config": config, "args": s, "progress": progress}
        save_checkpoint(state, run_dir / f"round{r}.pt")
        if improved:
            save_checkpoint(state, run_dir / "best.pt")
        save_checkpoint(state, run_dir / "last.pt")
    writer.close()
    test = load("test")  # touched once, at the end: round 0 (supervised only) and the selected round
    scores = {}
    for name, path in (("supervised", run_dir / "round0.pt"), ("selected", run_dir / "best.pt")):
        model.load_state_dict(load_checkpoint(path)["model"])
        scores[name] = accuracy(model, test.images, test.labels, device, config["mean"], config["std"])
    test_acc = scores["selected"]
    rounds_val = {}
    for row in progress["history"]:
        rounds_val[row["round"]] = row["val_acc"]  # the last epoch of each round is the round's model
    summary = {"dataset": s["dataset"], "labelled": len(labelled), "unlabeled": len(unlabeled),
               "val_accuracy_per_round": rounds_val, "best_round": progress["best_round"],
               "supervised_test_accuracy": scores["supervised"], "test_accuracy": test_acc,
               "test_items": len(test)}
    with atomic_open(run_dir / "summary.json") as f:
        json.dump(summary, f, indent=2)
    print(f"best round {progress['best_round']} (val {100 * progress['best_val']:.2f}%): test accuracy "
          f"{100 * test_acc:.2f}% (round 0, supervised only: {100 * scores['supervised']:.2f}%) on {len(test)} "
          f"faces of {test.name} test; run directory {run_dir}")
    return 0


if __name__ == "__main__":
    run_cli(main)
