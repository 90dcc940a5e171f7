"""``python -m benchmarks.learners``: every learner on Conv-4, trained by the same command on one
protocol and scored on the same fixed validation episodes; writes a markdown table.

The validation episodes of a run are drawn from the seed alone, so every learner of a protocol
is scored on identical episodes; the script checks that the saved ``val_episodes.json`` files
agree before it writes the table.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path
from typing import Sequence

from episodes import atomic_open
from fewshot_fer import train
from fewshot_fer.cli import HelpFormatter
from fewshot_fer.learners import LEARNERS

UNSEEN = ["--classes", "anger,happiness,sadness,neutral", "--val-classes", "disgust,fear,surprise"]
PROTOCOLS = {
    "synthetic": ("synthetic-basic -> synthetic-compound (unseen expressions, unseen people)",
                  ["--way", "3", "--shot", "5"]),
    "fer2013-unseen": ("FER2013 anger, happiness, sadness, neutral -> disgust, fear, surprise (validation split)",
                       ["--dataset", "fer2013", *UNSEEN, "--way", "3", "--shot", "5"]),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.learners", formatter_class=HelpFormatter,
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--protocol", choices=sorted(PROTOCOLS), default="synthetic")
    p.add_argument("--learners", default="feat,maml,protonet,relationnet", help="comma-separated learners")
    p.add_argument("--data-root", default="../shared/data/fer2013", help="FER2013 folder (fer2013 protocol)")
    p.add_argument("--epochs", type=int, default=8, help="training epochs of every run")
    p.add_argument("--output", default="runs/benchmarks", help="folder of the run directories")
    p.add_argument("--results", default="benchmarks/results", help="folder of the markdown table")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    title, flags = PROTOCOLS[args.protocol]
    if args.protocol != "synthetic":
        flags = [*flags, "--data-root", args.data_root]
    common = [*flags, "--epochs", str(args.epochs), "--output", args.output]
    rows, episodes = [], None
    for learner in [n.strip() for n in args.learners.split(",") if n.strip()]:
        name = f"{args.protocol}-{learner}"
        start = time.perf_counter()
        train.main([*common, "--learner", learner, "--name", name])
        minutes = (time.perf_counter() - start) / 60
        run_dir = Path(args.output) / name
        saved = (run_dir / "val_episodes.json").read_text()
        if episodes is not None and saved != episodes:
            raise RuntimeError(f"{run_dir} was validated on other episodes than the first learner.")
        episodes = saved
        history = list(csv.DictReader(open(run_dir / "metrics.csv")))
        best = max(history, key=lambda r: float(r["val_acc"]))
        rows.append((learner, float(best["val_acc"]), float(best["val_ci95"]), int(best["epoch"]), minutes))
    command = " ".join(["python -m benchmarks.learners", *(argv if argv is not None else sys.argv[1:])])
    lines = [f"# Learners on Conv-4: {title}", "", f"Command: `{command}`", "",
             f"Each run: `python -m fewshot_fer.train {' '.join(flags)} --epochs {args.epochs} --learner L`; "
             f"validation accuracy of the best epoch (selected on these validation episodes) with its 95% CI, "
             f"on the same {len(json.loads(episodes)['episodes'])} fixed validation episodes for every learner "
             f"(chance: 33.3%).", "",
             "| learner | val accuracy | 95% CI | best epoch | train minutes |", "|---|---|---|---|---|"]
    lines += [f"| {l} | {100 * a:.2f}% | +- {100 * c:.2f} | {e} | {m:.1f} |" for l, a, c, e, m in rows]
    out = Path(args.results) / f"learners-{args.protocol}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out) as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
