"""What a harness training run directory records: the time of each training attempt while it
trains (``AttemptClock``, ``harness-attempts.json``), then its budget (``harness.json``), the faces
it saw, the commit that trained it and the validation figure of its kept epoch."""

from __future__ import annotations

import csv
import json
import threading
import time
from pathlib import Path
from typing import Any

import torch
import yaml

from episodes import atomic_open
from fewshot_fer.training.rundir import git_commit

ATTEMPTS = "harness-attempts.json"  # the CPU and wall time of a run's training so far, while it trains


class AttemptClock:
    """Times one training attempt: CPU time of this process (all threads; it does not grow when
    other jobs share the machine) and wall time, added to the ``earlier`` attempts and rewritten
    to ``path`` every ``every`` seconds from a background thread, so that an attempt that is
    killed (a session that stops) keeps its time to within that interval, and the next harness
    run resumes the training instead of starting it again. ``starts_from``: the SHA-256 of the
    checkpoint a fine-tune starts from, kept with every attempt and in ``harness.json``."""

    def __init__(self, path: Path, earlier: list[dict[str, Any]], every: float = 30.0,
                 starts_from: str | None = None) -> None:
        self.path, self.earlier, self.every = path, list(earlier), every
        self.start = {"pretrained_sha256": starts_from} if starts_from else {}
        self.stop = threading.Event()

    def current(self) -> dict[str, Any]:
        return {"cpu_minutes": (time.process_time() - self.cpu) / 60,
                "wall_minutes": (time.perf_counter() - self.wall) / 60, "threads": torch.get_num_threads(),
                "commit": self.commit, **self.start}

    def write(self) -> None:
        if self.path.parent.is_dir():  # the run directory exists once the command has made it
            with atomic_open(self.path) as f:
                json.dump({"attempts": [*self.earlier, self.current()]}, f)

    def tick(self) -> None:
        while not self.stop.wait(self.every):
            self.write()

    def __enter__(self) -> "AttemptClock":
        self.cpu, self.wall, self.commit = time.process_time(), time.perf_counter(), git_commit()
        self.thread = threading.Thread(target=self.tick, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()
        self.thread.join()
        self.write()

    def totals(self) -> dict[str, Any]:
        """``harness.json``: CPU and wall minutes summed over the attempts, this attempt's threads,
        the commit of each attempt's code (``trained_on`` names them all) and, for a fine-tune, the
        fingerprint of the checkpoint it started from."""
        attempts = [*self.earlier, self.current()]
        return {"cpu_minutes": sum(a["cpu_minutes"] for a in attempts),
                "wall_minutes": sum(a["wall_minutes"] for a in attempts),
                "threads": attempts[-1]["threads"], "attempts": len(attempts),
                "commits": list(dict.fromkeys(str(a.get("commit", "unknown")) for a in attempts)), **self.start}


def faces_seen(run_dir: Path) -> int:
    """Training images a run processed, from its own records."""
    args = yaml.safe_load((run_dir / "args.yaml").read_text())
    history = list(csv.DictReader(open(run_dir / "metrics.csv")))
    if "faces_seen" in history[-1]:  # pretrain
        return int(history[-1]["faces_seen"])
    if "round" in history[-1]:  # selftrain: labelled faces every epoch, plus each round's pseudo-labels
        labelled = json.loads((run_dir / "summary.json").read_text())["labelled"]
        return sum(labelled + int(r["pseudo_labels"]) for r in history)
    return len(history) * args["episodes_per_epoch"] * args["way"] * (args["shot"] + args["query"])


def cpu_minutes(run_dir: Path) -> float:
    """CPU minutes the harness measured while training ``run_dir`` (all threads)."""
    record = json.loads((run_dir / "harness.json").read_text())
    if "cpu_minutes" not in record:
        raise ValueError(f"{run_dir / 'harness.json'} has no CPU time (written by an older harness); remove "
                         f"{run_dir} to train it again.")
    return record["cpu_minutes"]


def trained_on(run_dir: Path) -> str:
    """The commit of the code that trained ``run_dir`` (from its environment.yaml); a training the
    harness resumed under other code names each attempt's commit (space-separated)."""
    env = run_dir / "environment.yaml"
    first = str((yaml.safe_load(env.read_text()) or {}).get("git_commit", "unknown")) if env.is_file() else "unknown"
    record = run_dir / "harness.json"
    resumed = json.loads(record.read_text()).get("commits", [])[1:] if record.is_file() else []  # the first: env's
    return " ".join(dict.fromkeys([first, *resumed]))


def selection(run_dir: Path) -> dict[str, Any]:
    """Validation accuracy (and CI) of the kept epoch or round, and which it was."""
    history = list(csv.DictReader(open(run_dir / "metrics.csv")))
    if "round" in history[-1]:
        last = {r["round"]: r for r in history if r["round"].isdigit()}  # a round's model is its last epoch
        best = max(last.values(), key=lambda r: float(r["val_acc"]))
        return {"val_accuracy": float(best["val_acc"]), "val_ci95": "", "best_epoch": f"round {best['round']}"}
    best = max(history, key=lambda r: float(r["val_acc"]))
    return {"val_accuracy": float(best["val_acc"]), "val_ci95": float(best["val_ci95"]), "best_epoch": int(best["epoch"])}
