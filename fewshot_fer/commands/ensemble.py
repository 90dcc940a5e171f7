"""``python -m fewshot_fer.ensemble``: soft voting over several classifiers trained by ``selftrain``.

Each model's class probabilities (plain, or the mean of ``--mc-passes`` MC-dropout passes) are
averaged over the models; the ensemble predicts the arg-max. Prints every model's accuracy and the
ensemble's, and writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Sequence

from episodes import atomic_open

from ..data import add_loader_arguments, create_dataset, loader_options
from ..devices import resolve_device
from ..evaluation.episodes import soft_vote
from ..learners import CentroidBaseline
from ..models.build import load_models
from ..training.baselines.supervised import MC_SCOPE_HELP, MC_SCOPES, mc_dropout_probs, predict_probs
from .cli import add_debug_flag, command_parser, run_cli


def build_parser() -> argparse.ArgumentParser:
    p = command_parser("ensemble", __doc__)
    p.add_argument("--checkpoints", nargs="+", required=True, help="best.pt files of selftrain runs")
    p.add_argument("--dataset", required=True, help="dataset to score")
    p.add_argument("--data-root", default=None, help="folder of the dataset as unpacked (unused for synthetic)")
    p.add_argument("--split", default="test", help="split to score: train, val or test")
    p.add_argument("--mc-passes", type=int, default=0, help="MC-dropout passes per model (0: dropout off)")
    p.add_argument("--mc-scope", default="head", choices=MC_SCOPES, help=MC_SCOPE_HELP)
    p.add_argument("--output", default=None, help="JSON of the accuracies (default: beside the first checkpoint)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    add_loader_arguments(p)
    add_debug_flag(p)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    device = resolve_device(args.device)
    models = load_models(args.checkpoints, device)
    configs = [ckpt["model_config"] for _, ckpt in models]
    for (model, _), path in zip(models, args.checkpoints):
        if not isinstance(model, CentroidBaseline):
            raise ValueError(f"{path} is a few-shot learner, not a classifier trained by fewshot_fer.selftrain.")
    classes = sorted({c["learner_kwargs"].get("n_classes") for c in configs})
    if len(classes) > 1:
        raise ValueError(f"the checkpoints classify into different numbers of classes ({classes}); an ensemble "
                         f"needs them equal.")
    size, chans = configs[0]["image_size"], configs[0]["in_chans"]
    data = create_dataset(args.dataset, args.split, args.data_root, size, chans, **loader_options(vars(args), args.dataset))
    probs = []
    for (model, ckpt), cfg in zip(models, configs):
        if args.mc_passes:
            probs.append(mc_dropout_probs(model, data.images, args.mc_passes, device, scope=args.mc_scope,
                                          mean=cfg["mean"], std=cfg["std"]).mean(0))
        else:
            probs.append(predict_probs(model, data.images, device, cfg["mean"], cfg["std"]))
    acc = lambda q: float((q.argmax(-1) == data.labels).double().mean())
    result = {"dataset": args.dataset, "split": args.split, "items": len(data), "mc_passes": args.mc_passes,
              "models": {c: acc(q) for c, q in zip(args.checkpoints, probs)}, "ensemble": acc(soft_vote(probs))}
    for c, a in result["models"].items():
        print(f"{100 * a:6.2f}%  {c}")
    print(f"{100 * result['ensemble']:6.2f}%  soft-voting ensemble of {len(probs)} models"
          f"{f' with {args.mc_passes} MC-dropout passes each' if args.mc_passes else ''} ({len(data)} faces)")
    out = Path(args.output) if args.output else Path(args.checkpoints[0]).parent / "ensemble.json"
    with atomic_open(out) as f:
        json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    run_cli(main)
