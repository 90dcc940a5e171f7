"""The harness's result tables: one markdown + CSV file per protocol and a combined README.

Every row carries its test accuracy with the 95% CI, the paired difference against the reference
model (ProtoNet) over the shared episodes, the validation figure that selected it, its training
budget (faces seen, CPU minutes) and the commit it was scored on.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import torch

from episodes import atomic_open, mean_ci95
from fewshot_fer.training.rundir import git_commit, write_csv

from .ledger import is_test_target, ledger_line

COLUMNS = ("protocol", "model", "stages", "backbone", "accuracy", "ci95", "face_boot_low", "face_boot_high",
           "group_boot_low", "group_boot_high", "paired_diff", "paired_ci95", "val_deciding", "val_deciding_ci95",
           "clip_accuracy",
           "clip_ci95", "val_accuracy", "val_ci95", "best_epoch", "faces_seen", "cpu_minutes", "episodes", "query",
           "duplicates_left_out", "shared_classes", "commit", "scored_on")


def episode_accuracies(result_dir: Path) -> torch.Tensor:
    """Per-episode accuracies ``[n_episodes]`` written by ``evaluate`` (``episodes.csv``)."""
    return torch.tensor([float(r["accuracy"]) for r in csv.DictReader(open(result_dir / "episodes.csv"))],
                        dtype=torch.float64)


def scored_on(rows: list[dict[str, Any]], config: dict[str, Any]) -> str:
    """Which commit(s) scored the rows: a kept score (``score_cache``) names the commit that made it,
    whose scoring code is this run's."""
    now = short_commit(config.get("_commit") or git_commit())
    earlier = sorted({short_commit(str(r["scored_on"])) for r in rows if r.get("scored_on")} - {now})
    if not earlier:
        return f"every row was scored on {now}"
    return (f"rows were scored on {now} or, kept because their checkpoints, episodes and scoring code are unchanged, "
            f"on {', '.join(earlier)}")


def short_commit(commit: str) -> str:
    """A commit cut to 10 characters, keeping ``-dirty`` (code with uncommitted changes) visible."""
    return commit[:10] + ("-dirty" if commit.endswith("-dirty") else "")


def short_commits(commits: Any) -> str:
    """Each commit of a row (an ensemble's members may have several, space-separated), as ``short_commit``."""
    return " ".join(short_commit(c) for c in str(commits).split())


def add_paired_differences(rows: list[dict[str, Any]], reference: str | None) -> None:
    """``paired_diff`` / ``paired_ci95``: mean and 95% CI of (row - reference) accuracy over the
    shared episodes, for every row but the reference itself."""
    ref = next((r for r in rows if r["model"] == reference), None)
    for r in rows:
        r["paired_diff"] = r["paired_ci95"] = ""
        if ref is not None and r is not ref:
            r["paired_diff"], r["paired_ci95"] = mean_ci95(r["_accs"] - ref["_accs"])


def command_line(config: dict[str, Any]) -> str:
    """The line of a table that names the command that made it."""
    return f"Command: `{config.get('_command', 'python -m benchmarks.run --config ' + str(config.get('_path', '?')))}`"


def pool_line(pool: dict[str, dict[str, int]] | None) -> str:
    """The test pool per class, as the header lists it (after copies are left out)."""
    if not pool:
        return "Test pool: not recorded by the scoring (an older summary)."
    parts = [f"{c} {v['faces']} faces" + (f" of {v['groups']} people or clips" if "groups" in v else "")
             for c, v in pool.items()]
    return f"Test pool (after copies are left out): {'; '.join(parts)}."


def pool_columns(score: dict[str, Any]) -> dict[str, Any]:
    """The bootstrap intervals over the test pool's faces and groups of an evaluation's shot entry
    (blank for a score from before they were computed)."""
    face, group = score.get("face_bootstrap_ci95") or ("", ""), score.get("group_bootstrap_ci95") or ("", "")
    return {"face_boot_low": face[0], "face_boot_high": face[1], "group_boot_low": group[0], "group_boot_high": group[1]}


def pool_text(row: dict[str, Any]) -> str:
    """``faces 51.2-58.9; people 44.0-61.3`` (percent), or ``-``."""
    parts = [f"{what} {pct(row.get(low))}-{pct(row.get(high))}" for what, low, high in
             (("faces", "face_boot_low", "face_boot_high"), ("groups", "group_boot_low", "group_boot_high"))
             if row.get(low) not in ("", None)]
    return "; ".join(parts) or "-"


def pct(value: Any, unit: str = "", sign: bool = False) -> str:
    """A 0..1 value as a percentage; ``-`` where there is none."""
    if value in ("", None):
        return "-"
    return f"{100 * float(value):{'+' if sign else ''}.2f}{unit}"


def write_tables(protocol: dict[str, Any], rows: list[dict], results: Path, config: dict[str, Any],
                 planned: int | None = None, combined: bool = True) -> None:
    """Write the protocol's table; with ``planned`` larger than the rows so far, the table says it
    is partial (the harness rewrites it after every model, so a long run shows its progress and
    a stopped one can be continued by the same command, which reuses finished runs). ``combined``:
    also rewrite the README of every table in ``results`` (not for one seed's table)."""
    results.mkdir(parents=True, exist_ok=True)
    write_csv(results / f"{protocol['name']}.csv", [{k: r.get(k, "") for k in COLUMNS} for r in rows])
    ev, src, tgt = protocol["eval"], protocol["source"], protocol["target"]
    first = rows[0] if rows else {}
    shared = first.get("shared_classes", "")
    reference = config.get("reference", "protonet")
    lines = [f"# {protocol['name']}", "",
             command_line(config), "",
             f"Train on `{src['dataset']}` {src.get('classes') or 'all classes'}, select on "
             f"`{protocol['select']['dataset']}` val, test on `{tgt['dataset']}` {tgt['split']} "
             f"{tgt.get('classes') or 'all classes'}: {ev['way']}-way {ev['shot']}-shot, "
             f"{first.get('query', ev['query'])} queries per class, {first.get('episodes', '?')} fixed episodes shared "
             f"by every row; {first.get('duplicates_left_out', 0)} test faces that copy training or validation faces, "
             f"or another test face, were left out (exact copies; on real datasets also near copies, a perceptual "
             f"hash within 4 bits: fewshot_fer/data/near_duplicates.py).",
             f"Classes shared by training and test: {shared or 'none (checked)'}.", "",
             ledger_line(Path(config.get("_results", results)), protocol), "",
             *([f"**Partial: {len(rows)} of {planned} models so far** (the command is still running or was "
                "stopped; running it again reuses the finished runs).", ""] if planned and len(rows) < planned else []),
             "Paired difference: mean over the shared episodes of (row - "
             f"{reference}) accuracy, in points, with its 95% CI. Validation: the selected epoch on the run's fixed "
             "validation episodes (val split; classification accuracy for selftrain). Faces seen: training images "
             "processed, pre-training included; CPU minutes: processor time of training, summed over threads "
             f"(validation included; on this {os.cpu_count()}-core machine a run on n threads spends up to n CPU "
             "minutes a wall minute; each run's thread count is in its harness.json), "
             "as measured by the harness; unlike wall time it does not grow when other jobs share the machine. "
             f"Commit: the code that trained the row (untrained rows: the scoring commit); {scored_on(rows, config)}.",
             "",
             "Test pool: 95% bootstrap intervals that resample the test split's faces, and its groups (people, or "
             "clips) where the dataset has them, instead of the episodes: episodes redraw the same faces, so their "
             "interval narrows with their number; these show what another pool of the same size would give.", "",
             pool_line(first.get("_pool")), "",
             "Validation: `val (its options)` is the row scored on the protocol's fixed validation episodes "
             "(the split that selects, never test) with its own test-time options: the figure its options were "
             "chosen on; `val (training)` is the figure that selected its epoch during training.", "",
             f"| model | stages | backbone | {target_column(tgt)} | test pool (bootstrap) | vs " + reference + " | "
             "val (its options) | val (training) | best epoch | faces seen | CPU minutes | commit |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        test = f"{pct(r['accuracy'])} +- {pct(r['ci95'], '%')}"
        if r.get("clip_accuracy") not in ("", None):
            test += f" (clips {pct(r['clip_accuracy'])} +- {pct(r['clip_ci95'], '%')})"
        paired = "-" if r["paired_diff"] == "" else f"{pct(r['paired_diff'], sign=True)} +- {pct(r['paired_ci95'])}"
        val = ("-" if r["val_accuracy"] in ("", None) else f"{pct(r['val_accuracy'])}%" if r["val_ci95"] in ("", None)
               else f"{pct(r['val_accuracy'])} +- {pct(r['val_ci95'], '%')}")
        faces = f"{int(r['faces_seen']):,}" if r["faces_seen"] not in ("", None) else "-"
        minutes = f"{float(r['cpu_minutes']):.1f}" if r["cpu_minutes"] not in ("", None) else "-"
        deciding = "-" if r.get("val_deciding") in ("", None) else \
            f"{pct(r['val_deciding'])} +- {pct(r['val_deciding_ci95'], '%')}"
        lines.append(f"| {r['model']} | {r['stages']} | {r['backbone']} | {test} | {pool_text(r)} | {paired} | "
                     f"{deciding} | {val} | "
                     f"{r['best_epoch']} | {faces} | {minutes} | {short_commits(r['commit'])} |")
    with atomic_open(results / f"{protocol['name']}.md") as f:
        f.write("\n".join(lines) + "\n")
    if combined:
        write_combined(results)


def target_column(target: dict[str, Any]) -> str:
    """The accuracy column's name: ``test accuracy`` on a test target, else what the target is
    (``development-half accuracy``, ``val accuracy``), so a development figure never reads as a test one."""
    if is_test_target(target):
        return "test accuracy"
    return "development-half accuracy" if target.get("half") == "dev" else f"{target['split']} accuracy"


def write_combined(results: Path) -> None:
    combined = ["# Benchmark results", "", "Every table is written by `python -m benchmarks.run`; accuracy "
                "(mean +- 95% CI over the protocol's fixed episodes) on its target: the test split, or the development "
                "half of a protocol whose name ends in `-dev`, where choices are made. Details per protocol in "
                "`<protocol>.md`.", "",
                "| protocol | model | backbone | accuracy | shared classes | commit |", "|---|---|---|---|---|---|"]
    for table in sorted(results.glob("*.csv")):
        for r in csv.DictReader(open(table)):
            if "protocol" in r and "accuracy" in r and "model" in r:
                combined.append(f"| {r['protocol']} | {r['model']} | {r['backbone']} | {pct(r['accuracy'])} +- "
                                f"{pct(r['ci95'])}% | {r['shared_classes'] or 'none'} | {short_commits(r['commit'])} |")
    with atomic_open(results / "README.md") as f:
        f.write("\n".join(combined) + "\n")
