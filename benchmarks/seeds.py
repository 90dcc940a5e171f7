"""Several training seeds of one config: ``seeds: [0, 1, 2]`` trains and scores every row once per
seed (the seed of its training, and of the floor's random weights), each seed in its own
subfolder (``OUTPUT/seedN/``, ``RESULTS/<protocol>/seedN/<protocol>.md``), all on the same fixed
test episodes; ``RESULTS/<protocol>.md`` then gives each row's mean over the seeds with a
Student's t interval over them, the per-seed figures beside it, and the paired difference against
the reference row, averaged over seeds the same way. One training run is one draw: the spread
over seeds is what a retrain of a row gives.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from episodes import atomic_open, mean_ci95_t
from fewshot_fer.training.rundir import write_csv

from .ledger import ledger_line
from .tables import command_line, pct, pool_line, short_commits, target_column, write_combined

SEED_COLUMNS = ("protocol", "model", "stages", "backbone", "accuracy", "ci95", "seeds", "per_seed", "paired_diff",
                "paired_ci95", "val_accuracy", "cpu_minutes", "episodes", "shared_classes", "commit")


def seed_list(config: dict[str, Any]) -> list[int] | None:
    """The config's ``seeds`` (distinct whole numbers >= 0), or ``None`` for one run at the
    ``train:`` seed."""
    seeds = config.get("seeds")
    if seeds is None:
        return None
    if not (isinstance(seeds, list) and seeds and len(set(seeds)) == len(seeds)
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)):
        raise ValueError(f"{config.get('_path', 'the config')}: seeds must be a list of distinct whole numbers "
                         f"0 or more, e.g. [0, 1, 2]; got {seeds!r}.")
    return seeds


def seeded(config: dict[str, Any], seed: int) -> dict[str, Any]:
    """The config with every training stage (and the floor) at ``seed``."""
    return {**config, "train": {**(config.get("train") or {}), "seed": seed}, "_seed": seed}


def seed_rows(protocol: dict[str, Any], per_seed: dict[int, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One row per model: test accuracy and paired difference as mean +- t interval over the seeds
    (``per_seed``: seed -> that seed's table rows, in one model order; a row trained at fewer seeds
    averages over those, and one seed has no interval)."""
    out = []
    models = list(dict.fromkeys(r["model"] for rows in per_seed.values() for r in rows))
    for model in models:  # a row listing its own seeds is in those seeds' tables only
        rows = [r for s in per_seed for r in per_seed[s] if r["model"] == model]
        accuracy, ci = mean_ci95_t([float(r["accuracy"]) for r in rows])
        diffs = [float(r["paired_diff"]) for r in rows if r["paired_diff"] not in ("", None)]
        paired, paired_ci = mean_ci95_t(diffs) if len(diffs) == len(rows) else ("", "")
        vals = [float(r["val_accuracy"]) for r in rows if r["val_accuracy"] not in ("", None)]
        minutes = [float(r["cpu_minutes"]) for r in rows if r["cpu_minutes"] not in ("", None)]
        out.append({"protocol": protocol["name"], "model": model, "stages": rows[0]["stages"],
                    "backbone": rows[0]["backbone"], "accuracy": accuracy, "ci95": ci, "seeds": len(rows),
                    "per_seed": " ".join(f"{float(r['accuracy']):.4f}" for r in rows),
                    "paired_diff": paired, "paired_ci95": paired_ci,
                    "val_accuracy": sum(vals) / len(vals) if len(vals) == len(rows) else "",
                    "cpu_minutes": round(sum(minutes) / len(minutes), 3) if len(minutes) == len(rows) else "",
                    "episodes": rows[0]["episodes"], "shared_classes": rows[0]["shared_classes"],
                    "commit": " ".join(dict.fromkeys(str(r.get("commit", "")) for r in rows))})
    return out


def write_seed_tables(protocol: dict[str, Any], per_seed: dict[int, list[dict[str, Any]]], results: Path,
                      config: dict[str, Any]) -> list[dict[str, Any]]:
    """``RESULTS/<protocol>.md`` and ``.csv`` over the seeds (the combined README too); returns the rows."""
    rows = seed_rows(protocol, per_seed)
    write_csv(results / f"{protocol['name']}.csv", [{k: r.get(k, "") for k in SEED_COLUMNS} for r in rows])
    seeds = ", ".join(map(str, per_seed))
    reference = config.get("reference", "protonet")
    lines = [f"# {protocol['name']} over training seeds {seeds}", "",
             command_line(config), "",
             f"Every row trained and scored once per seed on the same {rows[0]['episodes'] if rows else '?'} fixed "
             f"test episodes; each seed's full table (validation, best epoch, faces seen, commits) is "
             f"`{protocol['name']}/seedN/{protocol['name']}.md`. Test accuracy and the paired difference against "
             f"{reference} (in points): mean over the seeds +- the 95% Student's t interval over them, which is what "
             "a retrain of the row spreads by; the per-seed figures follow.", "",
             ledger_line(results, protocol), "",
             pool_line(next(iter(per_seed.values()))[0].get("_pool") if rows else None), "",
             f"| model | stages | backbone | {target_column(protocol['target'])} | per seed | vs {reference} | val (mean) | "
             "CPU minutes (mean) | commit |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        each = ", ".join(pct(v) for v in r["per_seed"].split())
        paired = "-" if r["paired_diff"] == "" else f"{pct(r['paired_diff'], sign=True)}" + (
            "" if r["seeds"] == 1 else f" +- {pct(r['paired_ci95'])}")
        minutes = "-" if r["cpu_minutes"] == "" else f"{float(r['cpu_minutes']):.1f}"
        test = f"{pct(r['accuracy'])}% (one seed)" if r["seeds"] == 1 else \
            f"{pct(r['accuracy'])} +- {pct(r['ci95'], '%')}"
        lines.append(f"| {r['model']} | {r['stages']} | {r['backbone']} | {test} | {each} | {paired} | "
                     f"{pct(r['val_accuracy'], '%')} | {minutes} | {short_commits(r['commit'])} |")
    with atomic_open(results / f"{protocol['name']}.md") as f:
        f.write("\n".join(lines) + "\n")
    write_combined(results)
    return rows
