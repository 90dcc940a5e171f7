"""The semi-supervised study, an experiment of the benchmark runner (``experiment: semi-supervised``
in a config of ``python -m benchmarks.run``). For each labelled share (``fractions``), the
self-training CNN keeps the labels of that share of the protocol's training split and uses the
rest as unlabeled faces; the table shows every round (round 0 is supervised only; the round chosen
on validation is marked) and, with ``fresh``, the fresh member and the ensemble, each scored once on
the protocol's test split with dropout off and as the MC-dropout soft vote. Every test figure is a
line of the test ledger. The protocol is a classification protocol (``task: classification``, e.g.
``benchmarks/protocols/fer2013-classification.yaml``): its source names the dataset and classes.

Config keys: ``experiment``, ``protocols`` (one), ``data_roots``, ``fractions``, ``selftrain`` (the
self-training settings, checked by its recipe), ``table`` (the table's name), ``output``, ``results``,
``ledger``. A finished run with the same settings is reused.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any

import torch

from episodes import atomic_open
from fewshot_fer import api
from fewshot_fer.commands import selftrain
from fewshot_fer.training.rundir import git_commit

from .ledger import ledger_line, record_scoring
from .protocol import data_settings, experiment_protocol
from .scoring import flag_settings

CONFIG_KEYS = frozenset({"experiment", "protocols", "data_roots", "fractions", "selftrain", "table", "output",
                         "results", "ledger"})


def check_config(config: dict[str, Any]) -> tuple[dict[str, Any], list[float], dict[str, Any]]:
    """``(protocol, fractions, self-training settings)``; one sentence for a key, protocol or
    share the study cannot run."""
    path = config["_path"]
    protocol = experiment_protocol(config, CONFIG_KEYS, "semi-supervised")
    fractions = config.get("fractions")
    if not (isinstance(fractions, list) and fractions and all(
            isinstance(f, (int, float)) and not isinstance(f, bool) and 0 < f <= 1 for f in fractions)):
        raise ValueError(f"{path}: fractions must be a list of labelled shares in (0, 1], e.g. [0.25, 1]; "
                         f"got {fractions!r}.")
    given = config.get("selftrain") or {}
    owned = sorted(set(given) & {"dataset", "data_root", "classes", "labelled_fraction", "output", "name"})
    if owned:
        raise ValueError(f"{path}: selftrain setting {owned[0]!r} comes from the protocol and fractions, "
                         "not the config.")
    return protocol, [float(f) for f in fractions], flag_settings(selftrain, given)


def run_experiment(config: dict[str, Any]) -> int:
    """Train (or reuse) one self-training run per labelled share and write ``RESULTS/TABLE.md``."""
    protocol, fractions, settings = check_config(config)
    roots = {k: str(v) for k, v in (config.get("data_roots") or {}).items()}
    source = protocol["source"]
    out, results = Path(config.get("output", "runs/semi-supervised")), Path(config.get("results", "benchmarks/results"))
    ledger = Path(config.get("ledger", results))
    rows = []
    for fraction in fractions:
        name = f"{protocol['name']}-labelled-{fraction:g}"
        chosen = {"dataset": source["dataset"], **data_settings(source, roots), **settings,
                  "labelled_fraction": fraction}
        summary, minutes, fresh = train_or_reuse(chosen, out, name)
        rows.append((fraction, summary, minutes))
        for model, figure in test_figures(summary) if fresh else []:
            p, n = figure["test_accuracy"], summary["test_items"]
            record_scoring(ledger, protocol, f"{100 * fraction:g}% labels: {model}", None,
                           {"accuracy": p, "ci95": 1.96 * math.sqrt(p * (1 - p) / n), "episodes": n},
                           summary["commit"], config["_path"])
    table = render(protocol, rows, config, ledger)
    path = results / f"{config.get('table', protocol['name'])}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as f:
        f.write(table)
    print(table)
    return 0


def train_or_reuse(settings: dict[str, Any], out: Path, name: str) -> tuple[dict[str, Any], float, bool]:
    """The run's summary, CPU minutes and whether it trained now (its test figures are new looks);
    a finished run with the same settings is not trained again."""
    run_dir, done = out / name, out / name / "experiment.json"
    fresh = not (done.is_file() and json.loads(done.read_text())["settings"] == settings)
    if fresh:
        train(settings, out, name)
    record = json.loads(done.read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    return {**summary, "commit": record["commit"]}, record["cpu_minutes"], fresh


def train(settings: dict[str, Any], out: Path, name: str) -> None:
    """One self-training run in ``out/name``, its settings, CPU minutes and commit in ``experiment.json``."""
    run_dir = out / name
    if run_dir.exists():  # an unfinished or differently set run of ours: it starts over
        print(f"{run_dir} holds an unfinished run or one with other settings; training it again")
        shutil.rmtree(run_dir)
    cpu = time.process_time()
    api.selftrain(**settings, output=str(out), name=name)
    record = {"settings": settings, "cpu_minutes": (time.process_time() - cpu) / 60, "commit": git_commit()}
    with atomic_open(run_dir / "experiment.json") as f:
        json.dump(record, f)


def test_figures(summary: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """``(model, figures)`` of every model the run scored on test: each round, the fresh member and the ensemble."""
    figures = [(f"round {r}", row) for r, row in summary["rounds"].items()]
    return figures + [(k, summary[k]) for k in ("fresh", "ensemble") if k in summary]


def render(protocol: dict[str, Any], rows: list[tuple[float, dict[str, Any], float]], config: dict[str, Any],
           ledger: Path) -> str:
    threads = torch.get_num_threads()
    lines = [f"# Self-training on {protocol['source']['dataset']} (semi-supervised protocol {protocol['name']})", "",
             f"Command: `{config['_command']}`", "",
             "Each run keeps the labels of a stratified share of the training split and treats the other faces as "
             "unlabeled. Round 0 is supervised only; later rounds add MC-dropout pseudo-labels. The round kept is "
             "the best on the validation split. Every round (and the fresh member and its ensemble with the kept "
             "round, when `fresh` is set) is scored once on the test split, with dropout off and as the soft vote "
             "of the MC-dropout passes (the study's final predictor).", "",
             ledger_line(ledger, protocol), "",
             f"CPU minutes: process time of the whole run (all threads; {threads} thread{'s' * (threads != 1)} on "
             f"this {os.cpu_count()}-core machine), validation and test included.", "",
             "| labelled share | model | labelled faces | pseudo-labels | val | test, dropout off | "
             "test, MC-dropout vote | CPU minutes |", "|---|---|---|---|---|---|---|---|"]
    for fraction, s, minutes in rows:
        def cells(model: str, faces: Any, pseudo: Any, val: str, row: dict[str, Any]) -> str:
            return (f"| {100 * fraction:g}% | {model} | {faces} | {pseudo} | {val} | {100 * row['test_accuracy']:.2f}% "
                    f"| {100 * row['test_accuracy_mc']:.2f}% ({s['mc_passes']} passes) | {minutes:.1f} |")
        for r, row in s["rounds"].items():
            model = f"round {r}" + (" (supervised only)" if r == "0" else "") + (
                ", kept" if int(r) == s["best_round"] else "")
            lines.append(cells(model, s["labelled"], row["pseudo_labels"], f"{100 * row['val_accuracy']:.2f}%", row))
        if "fresh" in s:
            f = s["fresh"]
            lines.append(cells(f"fresh member ({100 * f['share']:g}% of the labels)", f["labelled"],
                               f["pseudo_labels"], "-", f))
            lines.append(cells("ensemble: kept round + fresh member", "-", "-", "-", s["ensemble"]))
    lines += ["", "The FER2013 self-training study reports 68.2-69.7% test accuracy for single models and 69% for its "
              "ensemble (7 classes) with the full-width CNN trained 30 epochs on a GPU: "
              "`python -m benchmarks.run --config benchmarks/configs/semi-supervised-fer2013-gpu.yaml`. On a CPU the "
              "network runs at the width and epochs of the config above."]
    return "\n".join(lines) + "\n"
