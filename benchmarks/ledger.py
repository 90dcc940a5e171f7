"""The test ledger: every scoring of a protocol's test split (or, for a dataset used as a test set
only, of all its faces: split ``all``; of its report half of people: ``half: report``) by the harness is one line of
``RESULTS/test-ledger.csv`` (date, commit, protocol, row, figure), committed with the tables, so a
reader can count how often a test split was looked at; each table's header gives its protocol's
count. A score kept from an earlier run (``score_cache``) is no new look and adds no line.
"""

from __future__ import annotations

import csv
import datetime
from pathlib import Path
from typing import Any

from fewshot_fer.training.rundir import write_csv

LEDGER = "test-ledger.csv"
TEST_SPLITS = ("test", "all")  # a target's test split, or every face of a dataset kept for testing
FIELDS = ("date", "commit", "protocol", "split", "row", "seed", "accuracy", "ci95", "episodes", "config")


def is_test_target(target: dict[str, Any]) -> bool:
    """Whether a protocol's target is looked at for testing: its test split, or all faces of a
    dataset kept for testing, unless only the development half of its people (``half: dev``)."""
    return target["split"] in TEST_SPLITS and target.get("half") != "dev"


def entries(results: Path) -> list[dict[str, str]]:
    """The ledger's lines (none when it does not exist yet)."""
    path = results / LEDGER
    return list(csv.DictReader(open(path, newline=""))) if path.is_file() else []


def record_scoring(results: Path, protocol: dict[str, Any], row: str, seed: Any, score: dict[str, Any],
                   commit: str, config: str) -> None:
    """One more line for a scoring of ``protocol``'s target split (test targets only: ``is_test_target``)."""
    split = protocol["target"]["split"]
    if not is_test_target(protocol["target"]):
        return
    line = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), "commit": commit,
            "protocol": protocol["name"], "split": split, "row": row, "seed": "" if seed is None else seed,
            "accuracy": f"{float(score['accuracy']):.6f}", "ci95": f"{float(score['ci95']):.6f}",
            "episodes": score["episodes"], "config": config}
    results.mkdir(parents=True, exist_ok=True)
    write_csv(results / LEDGER, [*entries(results), line])


def scorings(results: Path, protocol: str) -> int:
    """How many times the harness has scored ``protocol``'s test split (rows and seeds counted one by one)."""
    return sum(e["protocol"] == protocol for e in entries(results))


def ledger_line(results: Path, protocol: dict[str, Any]) -> str:
    """The sentence a table's header gives about its protocol's test scorings."""
    if protocol["target"].get("half") == "dev":
        return ("The target is the development half of its people (half: dev), where choices are made, not a test "
                "split: no test ledger lines.")
    if not is_test_target(protocol["target"]):
        return f"The target is the {protocol['target']['split']} split, not a test split: no test ledger lines."
    n = scorings(results, protocol["name"])
    return (f"Test scorings of this protocol so far: {n} (one line each in `{LEDGER}`: every row and seed scored "
            f"on its test split, with date and commit).")
