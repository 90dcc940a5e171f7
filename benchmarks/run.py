"""``python -m benchmarks.run --config benchmarks/configs/NAME.yaml``: train (or reuse) every model
of the config on each protocol, score all on the same fixed test episodes, and write
``benchmarks/results/<protocol>.md`` / ``.csv`` and the combined ``benchmarks/results/README.md``.

A protocol (``benchmarks/protocols/*.yaml``) names the source data the models train on, the
validation data that selects the epoch (never the test split), the target data and split they are
tested on, the episode shapes, and whether the target classes must be unseen in training. That
last claim is checked on the loaded data before anything trains; protocols whose source and
target share classes are marked as such in the tables. ``train_as: OTHER`` scores the models an
earlier protocol trained (same source, selection and episodes) on this protocol's target, e.g. a
second domain, without training them again. A protocol may fix the input format of its
models with ``input: {image_size: 84, channels: 3, normalization: imagenet}`` (over the config's
``train:`` values), and video targets' clip vote with ``eval: {clip_vote: majority}`` (default mean).

A config lists ``models``, each one row: ``{name, learner, backbone, flags}`` trains episodically
(``fewshot_fer.train``; ``from: NAME`` starts from the backbone of an earlier model),
``{name, pretrain: [flags]}`` runs supervised pre-training, ``{name, selftrain: [flags]}`` the
self-training baseline, ``{name, of: MODEL, eval: [flags]}`` scores an earlier model with
test-time options (``--learner-option transductive_steps=3``: transductive rows stand apart; ``of:
untrained conv4`` gives the floor under the same options),
``{name, ensemble: [MODEL, MODEL, ...]}`` scores the soft vote of earlier trained models (the mean
of their class probabilities on each episode; its budget is theirs summed),
``{name, checkpoint: PATH}`` scores a model trained elsewhere, ``{name: easyfsl, peer: easyfsl}``
easyfsl's ProtoNet trained as easyfsl documents it (``peer_rows.py``; the duel as a config);
A config with ``experiment: semi-supervised`` runs that study instead (``semi_supervised.py``: a
classifier per labelled share on a classification protocol), ``experiment: speed`` the speed
comparison with easyfsl (``speed.py``). ``learners`` x ``backbones`` and
``baselines`` are shorthands. ``ledger: FOLDER`` counts the test
scorings in ``FOLDER/test-ledger.csv`` rather than the results folder's (one ledger for configs
whose tables go to different folders, e.g. the duel's). ``seeds: [0, 1, 2]`` runs every row
once per training seed, each seed in its own subfolder, and the table gives the mean over seeds
with a Student's t interval (``seeds.py``). The harness adds an untrained
backbone row (the floor), the training budget of every row, and paired differences against the
``reference`` model (default ``protonet``).

Running the command again reuses every finished training, resumes a stopped one (``AttemptClock``,
``harness-attempts.json``: its CPU minutes add up over the attempts) and keeps every score whose
inputs are unchanged (``score_cache``). A fine-tune keeps the SHA-256 of the checkpoint it started
from: once that model is trained again, a finished fine-tune is refused with a message and a
stopped one starts over. With ``seeds``, each row is trained once and scored on every protocol
before the next row starts, and a row an earlier run scored is carried over from the results
folder even when its run directory is gone (``carry.py``): a release longer than one sitting goes
on where the last one stopped, and no test split is scored twice for it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Sequence

from fewshot_fer import api  # noqa: F401  (the harness's names, as tests and notes call them)
from fewshot_fer.commands.cli import HelpFormatter, add_debug_flag, run_cli
from fewshot_fer.training.rundir import git_commit

from .carry import still_needed
from .protocol import (
    load_protocol,
    load_yaml,
    protocol_settings,  # noqa: F401
)
from .protocol_table import UNTRAINED, ProtocolTable, ledger_dir  # noqa: F401
from .rows import (  # noqa: F401  (the harness's names, as tests and notes call them)
    backbone_used,
    ensemble_members,
    floor_name,
    model_specs,
    stage_settings,
    train_stage,
    untrained_checkpoint,
    untrained_name,
)
from .run_records import ATTEMPTS, trained_on  # noqa: F401
from .scoring import flag_settings  # noqa: F401
from .seeds import seed_list, seeded, write_seed_tables
from .semi_supervised import run_experiment as semi_supervised
from .speed import run_experiment as speed
from .tables import pct

# config key ``experiment``: studies of other shapes on the same protocol files
EXPERIMENTS = {"semi-supervised": semi_supervised, "speed": speed}
CONFIG_KEYS = frozenset({"protocols", "data_roots", "train", "seeds", "reference", "models", "models_from", "learners",
                         "backbones", "baselines", "learner_options", "untrained", "keep_duplicates", "output",
                         "results", "ledger"})


def run_protocol(protocol: dict[str, Any], config: dict[str, Any], out: Path, results: Path,
                 combined: bool = True) -> list[dict]:
    """Train (or reuse) and score every row of ``config`` on ``protocol``; the table goes to
    ``results`` after every row (``combined``: with the README of all tables)."""
    table = ProtocolTable(protocol, config, out, results, combined)
    for spec in table.specs:
        table.add(spec)
    return table.rows


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", formatter_class=HelpFormatter,
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="benchmark YAML: protocols, learners, backbones, data_roots, "
                                                    "train settings, output and results folders")
    p.add_argument("--only", default=None, metavar="PROTOCOL,...",
                   help="run only these of the config's protocols (their tables; the others are left as they are)")
    add_debug_flag(p)
    args = p.parse_args(argv)
    config = load_yaml(Path(args.config))
    if config.get("experiment") is not None:  # the study of another shape, run on the same protocol files
        return run_experiment(config, args)
    unknown = sorted(set(config) - CONFIG_KEYS)
    if unknown:
        raise ValueError(f"{args.config}: unknown key {unknown[0]!r}; a benchmark config has the keys "
                         f"{', '.join(sorted(CONFIG_KEYS))}.")
    config["_path"] = args.config
    if config.get("models_from"):  # another config's model list: one list for several configs
        config["models"] = load_yaml(Path(config["models_from"]))["models"]
    config["_command"] = f"python -m benchmarks.run --config {args.config}" + (f" --only {args.only}" if args.only else "")
    config["_commit"] = git_commit()  # the code this process runs: later checkouts do not change it
    if not config.get("protocols") or not (config.get("learners") or config.get("baselines") or config.get("models")):
        raise ValueError(f"{args.config} must list protocols, and models, learners or baselines.")
    out, results = Path(config.get("output", "runs/benchmarks")), Path(config.get("results", "benchmarks/results"))
    config["_results"] = str(config.get("ledger", results))
    names = config["protocols"]
    if args.only:
        wanted = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = sorted(set(wanted) - set(names))
        if unknown:
            raise ValueError(f"--only {unknown[0]!r} is not a protocol of {args.config} ({', '.join(names)}).")
        names = [n for n in names if n in wanted]
    protocols = [load_protocol(name) for name in names]
    seeds = seed_list(config)
    if seeds is None:
        tables = {p["name"]: run_protocol(p, config, out, results) for p in protocols}
    else:
        tables = run_seeds(protocols, config, seeds, out, results)
    for protocol in protocols:
        rows = tables[protocol["name"]]
        for r in rows:
            print(f"{protocol['name']:<24} {r['model']:<24} {r['backbone']:<9} "
                  f"{pct(r['accuracy'])} +- {pct(r['ci95'])}%")
    return 0


def run_seeds(protocols: list[dict[str, Any]], config: dict[str, Any], seeds: list[int], out: Path,
              results: Path) -> dict[str, list[dict[str, Any]]]:
    """Every row at every seed, each seed in its own subfolder; a row is trained once and scored on
    every protocol before the next one starts, and rows an earlier run scored are carried over
    (``carry.py``), so a release longer than one sitting goes on where the last one stopped. Then
    the table over seeds per protocol; returns its rows per protocol name."""
    checked: dict[str, tuple[list[str], list[str]]] = {}
    per_seed: dict[str, dict[int, list[dict[str, Any]]]] = {p["name"]: {} for p in protocols}
    for seed in seeds:
        tables = []
        for p in protocols:
            tables.append(ProtocolTable(p, seeded(config, seed), out / f"seed{seed}",
                                        results / p["name"] / f"seed{seed}", combined=False, carry=True,
                                        checked=checked.get(p["name"])))
            checked[p["name"]] = (tables[-1].shared, tables[-1].target_classes)
        specs = tables[0].specs
        done = set.intersection(*(set(t.carried) for t in tables))
        needed = still_needed(specs, done) | {s["name"] for s in specs if s["name"] not in done}
        for spec in specs:
            for table in tables:
                table.add(spec, needed)
        for p, table in zip(protocols, tables):
            per_seed[p["name"]][seed] = table.rows
    return {p["name"]: write_seed_tables(p, per_seed[p["name"]], results, config) for p in protocols}


def run_experiment(config: dict[str, Any], args: argparse.Namespace) -> int:
    """A config with ``experiment: KIND``: the study of that kind, which checks its own keys."""
    kind = config["experiment"]
    if kind not in EXPERIMENTS:
        raise ValueError(f"{args.config}: experiment must be one of {', '.join(EXPERIMENTS)} (or absent for a "
                         f"table of rows), got {kind!r}.")
    if args.only:
        raise ValueError(f"--only picks protocols of a table config; {args.config} is a {kind} experiment.")
    command = f"python -m benchmarks.run --config {args.config}"
    return EXPERIMENTS[kind]({**config, "_path": args.config, "_command": command})


if __name__ == "__main__":
    run_cli(main)
