"""``python -m benchmarks.semi_supervised``: the semi-supervised FER2013 protocol. For each labelled
fraction, the self-training CNN keeps the labels of that share of the training split and uses
the rest as unlabeled faces; the table shows every round (round 0 is supervised only; the round
chosen on validation is marked) and, with ``--fresh``, the fresh member and the ensemble, each
scored once on the FER2013 test split with dropout off and as the MC-dropout soft vote.
Every other flag goes to ``python -m fewshot_fer.selftrain`` (e.g. ``--rounds 0 --epochs 10
--backbone-option width=0.125`` for the 7-class supervised figure on a CPU).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import torch
import yaml

from episodes import atomic_open
from fewshot_fer.commands import selftrain
from fewshot_fer.commands.cli import HelpFormatter, add_debug_flag, run_cli

CONFIG_KEYS = {"fractions", "table", "data_root", "output", "results", "selftrain"}


def load_config(path: Path) -> dict[str, Any]:
    """The benchmark's YAML settings; unknown keys are refused with the path."""
    if not path.is_file():
        raise FileNotFoundError(f"config file {path} does not exist.")
    config = yaml.safe_load(path.read_text()) or {}
    unknown = sorted(set(config) - CONFIG_KEYS) if isinstance(config, dict) else ["(not a mapping)"]
    if unknown:
        raise ValueError(f"config file {path} has unknown keys {unknown}; expected some of {sorted(CONFIG_KEYS)}.")
    return config


def config_flags(settings: dict[str, Any]) -> list[str]:
    """``{"round_epochs": 5, "backbone_option": ["width=1"]}`` -> ``--round-epochs 5 --backbone-option width=1``."""
    flags = []
    for key, value in settings.items():
        flag = f"--{str(key).replace('_', '-')}"
        for item in value if isinstance(value, list) else [value]:
            flags += [flag, str(item)]
    return flags


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.semi_supervised", formatter_class=HelpFormatter,
                                description=__doc__.split("\n\n")[0],
                                epilog="Flags not listed here are passed to python -m fewshot_fer.selftrain "
                                       "(see its --help), e.g. --rounds 0 --epochs 10 --backbone-option width=0.125.")
    p.add_argument("--config", default=None,
                   help="YAML of this benchmark's settings (fractions, table) and of the selftrain flags "
                        "(mapping 'selftrain'); flags on the command line override both, e.g. "
                        "benchmarks/configs/seed-fer2013-selftrain.yaml")
    p.add_argument("--data-root", default="../shared/data/fer2013", help="FER2013 folder")
    p.add_argument("--fractions", default="0.1,0.25", help="labelled shares of the training split")
    p.add_argument("--output", default="runs/semi-supervised", help="folder of the run directories")
    p.add_argument("--results", default="benchmarks/results", help="folder of the markdown table")
    p.add_argument("--table", default="semi-supervised-fer2013",
                   help="name of the markdown table (RESULTS/TABLE.md); e.g. fer2013-supervised for --fractions 1")
    add_debug_flag(p)
    args, selftrain_flags = p.parse_known_args(argv)
    if args.config:
        config = load_config(Path(args.config))
        defaults = vars(p.parse_args([]))
        for key in ("fractions", "table", "data_root", "output", "results"):  # a typed flag wins over the file
            if key in config and getattr(args, key) == defaults[key]:
                value = config[key]
                setattr(args, key, ",".join(map(str, value)) if isinstance(value, list) else str(value))
        selftrain_flags = [*config_flags(config.get("selftrain") or {}), *selftrain_flags]
    rows = []
    for fraction in [float(f) for f in args.fractions.split(",")]:
        name = f"fer2013-labelled-{fraction:g}"
        flags = ["--dataset", "fer2013", "--data-root", args.data_root, "--labelled-fraction", str(fraction),
                 *selftrain_flags]
        cpu = time.process_time()
        selftrain.main([*flags, "--output", args.output, "--name", name])
        summary = json.loads((Path(args.output) / name / "summary.json").read_text())
        rows.append((fraction, summary, (time.process_time() - cpu) / 60))
    threads = torch.get_num_threads()
    command = " ".join(["python -m benchmarks.semi_supervised", *(argv if argv is not None else sys.argv[1:])])
    lines = ["# Self-training on FER2013 (semi-supervised protocol)", "", f"Command: `{command}`", "",
             "Each run keeps the labels of a stratified share of the FER2013 training split and treats the "
             "other faces as unlabeled. Round 0 is supervised only; later rounds add MC-dropout pseudo-labels. "
             "The round kept is the best on the validation split. Every round (and the fresh member and its "
             "ensemble with the kept round, when `--fresh` is given) is scored once on the test split, with "
             "dropout off and as the soft vote of the MC-dropout passes (the study's final predictor).", "",
             f"CPU minutes: process time of the whole run (all threads; {threads} thread{'s' * (threads != 1)} on this "
             f"{os.cpu_count()}-core machine), validation and test included.", "",
             "| labelled share | model | labelled faces | pseudo-labels | val | test, dropout off | "
             "test, MC-dropout vote | CPU minutes |", "|---|---|---|---|---|---|---|---|"]
    for fraction, s, minutes in rows:
        cells = lambda model, faces, pseudo, val, row: (
            f"| {100 * fraction:g}% | {model} | {faces} | {pseudo} | {val} | {100 * row['test_accuracy']:.2f}% | "
            f"{100 * row['test_accuracy_mc']:.2f}% ({s['mc_passes']} passes) | {minutes:.1f} |")
        for r, row in s["rounds"].items():
            model = f"round {r}" + (" (supervised only)" if r == "0" else "") + (
                ", kept" if int(r) == s["best_round"] else "")
            lines.append(cells(model, s["labelled"], row["pseudo_labels"],
                               f"{100 * row['val_accuracy']:.2f}%", row))
        if "fresh" in s:
            f = s["fresh"]
            lines.append(cells(f"fresh member ({100 * f['share']:g}% of the labels)", f["labelled"],
                               f["pseudo_labels"], "-", f))
            lines.append(cells("ensemble: kept round + fresh member", "-", "-", "-", s["ensemble"]))
    lines += ["", "The FER2013 self-training study reports 68.2-69.7% test accuracy for single models and 69% for its "
              "ensemble (7 classes) with the full-width CNN trained 30 epochs on a GPU. Its supervised model on all "
              "labels: `python -m fewshot_fer.selftrain --dataset fer2013 --data-root DATA --rounds 0 --device cuda` "
              "(full width and 30 epochs are the GPU defaults); the whole study: `python -m benchmarks.semi_supervised "
              "--config benchmarks/configs/seed-fer2013-selftrain.yaml --device cuda`. On a CPU the network runs at "
              "the width and epochs of the command above."]
    out = Path(args.results) / f"{args.table}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(out) as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    run_cli(main)
