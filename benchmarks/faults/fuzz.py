"""Property-based fuzzing of episode shapes and flags, and the interruption cases.

The property: whatever values the flags take, ``train`` and ``evaluate`` end in a result whose
numbers make sense (accuracies in [0, 1], the files a run promises) or in one clear sentence,
never a traceback. Combinations are drawn from a seeded generator, so a failure is reproduced by
its case name (``fuzz <seed>:<k>``) alone.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from . import fixtures as fx
from .interrupt import SIGNALS, interruption_outcome
from .runner import Case, Outcome

NUMBERS = ["-3", "-1", "0", "1", "2", "3", "5", "11", "40", "1000", "2.5", "x", "", "1e3", "nan"]
TRAIN_FLAGS = {"--way": NUMBERS, "--shot": NUMBERS, "--query": NUMBERS, "--val-way": NUMBERS,
               "--val-shot": NUMBERS, "--val-query": NUMBERS, "--image-size": ["1", "7", "16", "24", "0", "-8", "x"],
               "--channels": ["1", "3", "2", "0"], "--episodes-per-epoch": ["1", "2", "0", "-1"],
               "--val-episodes": ["1", "2", "0", "-4"], "--epochs": ["1", "0", "-1"], "--lr": ["1e-3", "0", "-1", "inf"],
               "--learner": ["protonet", "relationnet", "feat", "maml", "nope"],
               "--backbone": ["conv4", "resnet12", "vgcnn", "nope"], "--augmentation": ["flip-shift", "face", "x"],
               "--lr-schedule": ["cosine", "constant", "step:1:0.5", "step:0:1", "step"],
               "--patience": ["0", "1", "-1"], "--warmup-epochs": ["0", "1", "5", "-1"]}
SANE = {"--way": ["2", "3", "5", "11"], "--shot": ["1", "2", "5", "40"], "--query": ["1", "3", "11", "40"],
        "--val-way": ["2", "3", "5", "11"], "--val-shot": ["1", "2", "5"], "--val-query": ["1", "3", "40"],
        "--image-size": ["7", "16", "24"], "--channels": ["1", "3"], "--episodes": ["1", "3"],
        "--shots": ["1", "1,5", "5,5"], "--split": ["test", "val", "train", "all"],
        "--dataset": ["synthetic-compound", "synthetic-basic"], "--seed": ["0", "-1"]}
EVAL_FLAGS = {"--way": NUMBERS, "--shots": ["1", "1,5", "0", "1,x", "", "5,5", "-1"], "--query": NUMBERS,
              "--episodes": ["1", "3", "0", "-2", "x"], "--split": ["test", "val", "train", "all", "nope"],
              "--dataset": ["synthetic-compound", "synthetic-basic", "nope"], "--seed": ["0", "-1", "x"],
              "--clip-vote": ["mean", "majority", "x"]}


def sane_run(tmp: Path, outcome: Outcome) -> str | None:
    runs = list((tmp / "runs").glob("*/metrics.csv"))
    if not runs:
        return "train succeeded but wrote no metrics.csv"
    import csv

    rows = list(csv.DictReader(open(runs[0])))
    bad = [r["val_acc"] for r in rows if not 0.0 <= float(r["val_acc"]) <= 1.0]
    if bad or not (runs[0].parent / "best.pt").is_file():
        return f"train succeeded with validation accuracies {bad} or no best.pt"
    return None


def sane_evaluation(tmp: Path, outcome: Outcome) -> str | None:
    summary = tmp / "ev" / "summary.json"
    if not summary.is_file():
        return "evaluate succeeded but wrote no summary.json"
    shots = json.loads(summary.read_text())["shots"]
    bad = {k: v["accuracy"] for k, v in shots.items() if not 0.0 <= v["accuracy"] <= 1.0 or v["episodes"] < 1}
    return f"accuracies out of [0, 1] or no episodes: {bad}" if bad else None


DEEP_BACKBONES = ("resnet12", "vgcnn")


def fuzz_cases(count: int, seed: int = 0, slow_after: int = 0) -> list[Case]:
    """``count`` random command lines (half ``train``, half ``evaluate``); the ones past
    ``slow_after`` are marked slow (0: none)."""
    rng = random.Random(seed)
    cases = []
    for k in range(count):
        flags = TRAIN_FLAGS if k % 2 == 0 else EVAL_FLAGS
        chosen = rng.sample(sorted(flags), rng.randint(1, 4))
        # three values in four are sane ones (the first of each list's valid part), so the draws
        # reach episode-size and option interactions, not only argparse's type checks
        picked = [(f, rng.choice(SANE.get(f, flags[f]) if rng.random() < 0.75 else flags[f])) for f in chosen]
        tokens = [f"{f}={v}" for f, v in picked]
        if k % 2 == 0:
            def make(tmp: Path, tokens: list[str] = tokens) -> list[str]:
                return ["train", *fx.TINY_TRAIN, "--epochs", "1", "--episodes-per-epoch", "2", "--val-episodes", "2",
                        *tokens, "--output", str(tmp / "runs")]
            check = sane_run
        else:
            def make(tmp: Path, tokens: list[str] = tokens) -> list[str]:
                return ["evaluate", "--checkpoint", str(fx.tiny_run() / "best.pt"), "--episodes", "3", *tokens,
                        "--output", str(tmp / "ev")]
            check = sane_evaluation
        # a deep backbone makes a case cost ten seconds of training, not of checking: the slow tier's
        heavy = any(f == "--backbone" and v in DEEP_BACKBONES for f, v in picked)
        cases.append(Case("fuzz", f"fuzz {seed}:{k} {'train' if k % 2 == 0 else 'evaluate'} {' '.join(tokens)}",
                          make, check=check, either=True, slow=bool(slow_after) and (k >= slow_after or heavy)))
    return cases


def interruption_cases(fast: tuple[tuple[str, int, str], ...]) -> list[Case]:
    """SIGINT, SIGTERM and SIGKILL at points of a 2-epoch run (``interrupt.POINTS``), each resumed
    and compared bit for bit; the (point, arrival, signal) triples in ``fast`` run by default."""
    # (point, arrival, what): checkpoint writes are 1 the starting last.pt, 2 best.pt and 3 last.pt of
    # epoch 1, 4 best.pt and 5 last.pt of epoch 2 (epoch 2 improves in this run); a kill at write 5
    # catches a best.pt written after last.pt (resume would call the run finished with a stale best.pt)
    where = [("episode", 6, "epoch 2, episode 2"), ("validation", 1, "epoch 1's validation"),
             ("checkpoint", 3, "epoch 1's last.pt write"), ("checkpoint", 5, "the run's final last.pt write")]
    cases = []
    for point, arrival, what in where:
        for name in SIGNALS:
            def run(tmp: Path, point: str = point, arrival: int = arrival, name: str = name) -> tuple[str, str]:
                from fewshot_fer.commands import train

                if train.main([*fx.TINY_TRAIN, "--output", str(tmp), "--name", "straight"]) != 0:
                    return "wrong result", "the uninterrupted run failed"
                same, detail = interruption_outcome(point, arrival, name, fx.TINY_TRAIN, tmp, tmp / "straight")
                return ("result" if same else "wrong result"), detail
            cases.append(Case("interruptions", f"{name} during {what}, then --resume", lambda t: [], run=run,
                              slow=(point, arrival, name) not in fast))
    return cases
