"""``python -m benchmarks.ledger_history``: the test scorings made before the ledger existed,
recovered from the git history of the committed result tables, written at the top of
``benchmarks/results/test-ledger.csv`` (lines the harness wrote since are kept after them).

Every committed version of every result CSV is read; a row figure seen for the first time (a
protocol, a row name, the commit that scored it and the figure) is one scoring, dated by the
commit that first carried it. The duel's tables and the exploratory tables under ``recipes/``
looked at the FER2013 test split of the unseen-expression protocol too, so they count for
``fer2013-unseen``. A scoring that no table kept (run, read, then overwritten before a commit) is
not in git and cannot be counted: these figures are a lower bound.
"""

from __future__ import annotations

import argparse
import csv
import io
import subprocess
from pathlib import Path
from typing import Sequence

import yaml

from fewshot_fer.commands.cli import HelpFormatter, add_debug_flag, run_cli
from fewshot_fer.training.rundir import write_csv

from .ledger import FIELDS, LEDGER, TEST_SPLITS, entries

RECOVERED = "recovered from the git history of "  # the config column of a recovered line


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


def protocol_of(path: str, row: dict[str, str]) -> str | None:
    """The protocol a table row scored, when it is a test split; ``None`` otherwise."""
    name = Path(path).name
    if name.startswith("duel-fer2013") or path.startswith("benchmarks/results/recipes/"):
        return "fer2013-unseen"
    protocol = row.get("protocol")
    spec = Path("benchmarks/protocols") / f"{protocol}.yaml"
    if not protocol or not spec.is_file():
        return None
    split = (yaml.safe_load(spec.read_text()).get("target") or {}).get("split")
    return protocol if split in TEST_SPLITS else None


def split_of(protocol: str) -> str:
    spec = Path("benchmarks/protocols") / f"{protocol}.yaml"
    return (yaml.safe_load(spec.read_text()).get("target") or {}).get("split", "test")


def recovered_lines(results: Path) -> list[dict[str, str]]:
    """One ledger line per distinct test scoring in the history of ``results``' CSV files."""
    paths = sorted(set(git("log", "--format=", "--name-only", "--", f"{results}/*.csv", f"{results}/**/*.csv").split()))
    seen, lines = set(), []
    for path in paths:
        for line in reversed(git("log", "--format=%H %aI", "--", path).splitlines()):  # oldest first
            commit, date = line.split(" ", 1)
            try:
                text = git("show", f"{commit}:{path}")
            except subprocess.CalledProcessError:  # deleted in this commit
                continue
            for row in csv.DictReader(io.StringIO(text)):
                protocol = protocol_of(path, row)
                if protocol is None or not row.get("accuracy") or not row.get("model"):
                    continue
                scored = row.get("scored_on") or row.get("commit") or commit
                model = row["model"] if not Path(path).name.startswith("duel") else f"duel: {row['model']}"
                key = (protocol, model, scored, round(float(row["accuracy"]), 6))
                if key in seen:
                    continue
                seen.add(key)
                lines.append({"date": date, "commit": scored, "protocol": protocol, "split": split_of(protocol),
                              "row": model,
                              "seed": "", "accuracy": f"{float(row['accuracy']):.6f}",
                              "ci95": f"{float(row['ci95']):.6f}" if row.get("ci95") else "",
                              "episodes": row.get("episodes", ""), "config": RECOVERED + path})
    return sorted(lines, key=lambda e: e["date"])


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.ledger_history", formatter_class=HelpFormatter,
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default="benchmarks/results", help="the results folder (run from the repository)")
    add_debug_flag(p)
    args = p.parse_args(argv)
    results = Path(args.results)
    recovered = recovered_lines(results)
    written = [e for e in entries(results) if not e["config"].startswith(RECOVERED)]
    write_csv(results / LEDGER, [{k: e.get(k, "") for k in FIELDS} for e in recovered + written])
    counts: dict[str, int] = {}
    for e in recovered:
        counts[e["protocol"]] = counts.get(e["protocol"], 0) + 1
    for protocol, n in sorted(counts.items()):
        print(f"{protocol}: {n} test scorings recovered from git")
    return 0


if __name__ == "__main__":
    run_cli(main)
