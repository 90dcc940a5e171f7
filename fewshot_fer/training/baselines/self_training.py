"""The self-training loop's pieces (Lee 2013 pseudo-labels with MC-dropout, as in the FER2013
self-training study): labelled subsets, pseudo-labels and the one look at the test split (a
round's training is a run of the one training loop: ``engine.round_task``). ``python -m fewshot_fer.selftrain`` (``fewshot_fer/commands/selftrain.py``) strings them
together and keeps the run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from episodes import episode_seed

from ...evaluation.episodes import soft_vote
from ...learners import CentroidBaseline
from ...weights import load_checkpoint
from .pseudo_labels import select
from .supervised import mc_dropout_probs, predict_probs


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


def rehearsal_share(rehearsal: str) -> float:
    return 1.0 if rehearsal == "all" else float(rehearsal.split(":")[1])


def rehearsal_subset(labels: torch.Tensor, rehearsal: str, seed: int, round_index: int) -> torch.Tensor:
    """Indices of the labelled faces trained on again in round ``round_index``: all of them, or a
    stratified sample (``sample:F``) drawn anew each round."""
    share = rehearsal_share(rehearsal)
    if share >= 1:
        return torch.arange(len(labels))
    return split_labelled(labels, share, episode_seed(seed, round_index, 6))[0]


def pseudo_labels(model: CentroidBaseline, unlabeled: torch.Tensor, s: dict[str, Any], config: dict[str, Any],
                  device: torch.device, cap: int, stream: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``[M]`` of the unlabeled faces ``[N, C, H, W]`` that get a pseudo-label from
    ``model``'s MC-dropout soft vote, and those labels ``[M]``."""
    probs = mc_dropout_probs(model, unlabeled, s["mc_passes"], device, seed=episode_seed(s["seed"], stream, 2),
                             scope=s["mc_scope"], mean=config["mean"], std=config["std"])
    return select(probs, s["threshold"], s["selection"], cap)


def score_on_test(run_dir: Path, test: Any, model: CentroidBaseline, s: dict[str, Any], config: dict[str, Any],
                  device: torch.device, progress: dict[str, Any], fresh: dict[str, Any] | None) -> dict[str, Any]:
    """The one look at the test split: every round's model, the fresh member and the ensemble of
    the kept round with it, each with dropout off and as the soft vote of ``--mc-passes``
    MC-dropout passes."""
    acc = lambda probs: float((probs.argmax(-1) == test.labels).double().mean())

    def predictions(path: Path, stream: int) -> tuple[torch.Tensor, torch.Tensor]:
        model.load_state_dict(load_checkpoint(path)["model"])
        off = predict_probs(model, test.images, device, config["mean"], config["std"])
        mc = mc_dropout_probs(model, test.images, s["mc_passes"], device, seed=episode_seed(s["seed"], stream, 5),
                              scope=s["mc_scope"], mean=config["mean"], std=config["std"]).mean(0)
        return off, mc

    last_rows = {row["round"]: row for row in progress["history"]}  # a round's last epoch is the round's model
    val_per_round = {r: row["val_acc"] for r, row in last_rows.items()}
    rounds, kept = {}, None
    for r, row in last_rows.items():
        off, mc = predictions(run_dir / f"round{r}.pt", r)
        rounds[r] = {"val_accuracy": row["val_acc"], "pseudo_labels": row.get("pseudo_labels", 0),
                     "test_accuracy": acc(off), "test_accuracy_mc": acc(mc)}
        if r == progress["best_round"]:
            kept = (off, mc)
    best = rounds[progress["best_round"]]
    summary = {"mc_passes": s["mc_passes"], "rounds": rounds, "val_accuracy_per_round": val_per_round,
               "best_round": progress["best_round"], "supervised_test_accuracy": rounds[0]["test_accuracy"],
               "test_accuracy": best["test_accuracy"], "test_accuracy_mc": best["test_accuracy_mc"],
               "test_items": len(test), "test_name": test.name}
    if fresh is not None:
        off, mc = predictions(run_dir / "fresh.pt", 10_000)
        summary["fresh"] = {**fresh, "test_accuracy": acc(off), "test_accuracy_mc": acc(mc)}
        summary["ensemble"] = {"test_accuracy": acc(soft_vote([kept[0], off])),
                               "test_accuracy_mc": acc(soft_vote([kept[1], mc]))}
    return summary


def test_report(summary: dict[str, Any], run_dir: Path) -> str:
    """Readable lines of ``score_on_test``'s summary."""
    t = summary["mc_passes"]
    lines = [f"test split of {summary['test_name']} ({summary['test_items']} faces), dropout off / soft vote of {t} "
             f"MC-dropout passes:"]
    for r, row in summary["rounds"].items():
        mark = "  <- kept (best on validation)" if r == summary["best_round"] else ""
        lines.append(f"  round {r}: val {100 * row['val_accuracy']:.2f}%  test {100 * row['test_accuracy']:.2f}% / "
                     f"{100 * row['test_accuracy_mc']:.2f}%{mark}")
    for name in ("fresh", "ensemble"):
        if name in summary:
            row = summary[name]
            lines.append(f"  {'fresh member' if name == 'fresh' else 'ensemble (kept + fresh)'}: test "
                         f"{100 * row['test_accuracy']:.2f}% / {100 * row['test_accuracy_mc']:.2f}%")
    lines.append(f"run directory {run_dir}")
    return "\n".join(lines)
