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
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Sequence

import torch

from episodes import atomic_open
from fewshot_fer import api
from fewshot_fer.commands import pretrain, selftrain, train
from fewshot_fer.commands.cli import HelpFormatter, add_debug_flag, run_cli
from fewshot_fer.models.build import build_model, model_config, parse_options
from fewshot_fer.training.data import input_config
from fewshot_fer.training.rundir import git_commit
from fewshot_fer.weights import load_checkpoint, save_checkpoint

from .carry import (
    carried_file,
    carried_row,
    check_same_episodes,
    checkpoint_digest,
    load_carried,
    record,
    row_keys,
    save_carried,
    still_needed,
)
from .ledger import record_scoring
from .peer_rows import score_peer_row, train_peer_row
from .protocol import (
    check_protocol,
    data_settings,
    load_protocol,
    load_yaml,
    protocol_settings,
    selection_settings,
    training_name,
)
from .run_records import ATTEMPTS, AttemptClock, cpu_minutes, faces_seen, selection, trained_on
from .run_reuse import check_reusable, interrupted_attempts, starting_weights
from .scoring import deciding_validation, flag_settings, merged, score_on_target
from .seeds import seed_list, seeded, write_seed_tables
from .semi_supervised import run_experiment as semi_supervised
from .speed import run_experiment as speed
from .tables import add_paired_differences, episode_accuracies, pct, write_tables

UNTRAINED = "none (random weights)"  # the stages of a floor row
# config key ``experiment``: studies of other shapes on the same protocol files
EXPERIMENTS = {"semi-supervised": semi_supervised, "speed": speed}
CONFIG_KEYS = frozenset({"protocols", "data_roots", "train", "seeds", "reference", "models", "models_from", "learners",
                         "backbones", "baselines", "learner_options", "untrained", "keep_duplicates", "output",
                         "results", "ledger"})
COMMON_KEYS = ("image_size", "channels", "normalization", "seed")  # settings of every training stage
EPISODIC_KEYS = ("epochs", "patience", "episodes_per_epoch", "val_episodes", "lr", "lr_schedule", "warmup_epochs",
                 "augmentation")


def model_specs(config: dict[str, Any]) -> list[dict[str, Any]]:
    """Every row of a protocol's table: ``models`` entries, ``learners`` x ``backbones``, and
    ``baselines``; first an untrained backbone per backbone used (the floor)."""
    specs = [dict(m) for m in config.get("models") or []]
    backbones = config.get("backbones", ["conv4"])
    for backbone in backbones:
        for learner in config.get("learners") or []:
            specs.append({"name": learner if len(backbones) == 1 else f"{learner}-{backbone}", "learner": learner,
                          "backbone": backbone})
    specs += [dict(b) for b in config.get("baselines") or []]
    names = [s.get("name") for s in specs]
    if None in names or len(set(names)) != len(names):
        raise ValueError(f"every model of {config['_path']} needs its own name, got {names}.")
    if config.get("untrained", True):
        floors = dict.fromkeys(backbone_used(s) for s in specs)
        specs = [{"name": floor_name(b, options), "untrained": b, "backbone_option": list(options)}
                 for b, options in floors if b is not None] + specs
    return specs


STAGE_BACKBONES = {"pretrain": "conv4", "selftrain": "vgcnn"}  # the training commands' default backbones


def backbone_used(spec: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """``(backbone, its options)`` a trained row builds, e.g. ``("resnet12", ("widths=[32,64,128,256]",))``;
    ``(None, ())`` for a row that trains nothing or gives its settings as a flag list."""
    if "peer" in spec:
        return "conv4", ()
    for stage, default in STAGE_BACKBONES.items():
        if stage in spec:
            settings = spec[stage]
            return (settings.get("backbone", default), tuple(settings.get("backbone_option") or ())) \
                if isinstance(settings, dict) else (default, ())
    if "learner" in spec:
        settings = spec.get("train") if isinstance(spec.get("train"), dict) else {}
        return spec.get("backbone", "conv4"), tuple(settings.get("backbone_option") or ())
    return None, ()


def floor_name(backbone: str, options: Sequence[str]) -> str:
    """``untrained resnet12``, or with the backbone's options ``untrained resnet12 widths=[32,64,128,256]``."""
    return " ".join(["untrained", backbone, *options])


def stage_settings(spec: dict[str, Any], protocol: dict[str, Any], config: dict[str, Any], roots: dict[str, str],
                   trained: dict[str, Path]) -> tuple[Any, Any, dict[str, Any], str]:
    """``(command module, API function, settings, stages label)`` that trains ``spec``."""
    settings = protocol_settings(protocol, config)
    common = {k: settings[k] for k in COMMON_KEYS if k in settings}
    if "pretrain" in spec:
        return pretrain, api.pretrain, merged(selection_settings(protocol, roots), common,
                                              flag_settings(pretrain, spec["pretrain"])), "pretrain"
    if "selftrain" in spec:
        src = protocol["source"]
        return selftrain, api.selftrain, merged({"dataset": src["dataset"]}, data_settings(src, roots), common,
                                                flag_settings(selftrain, spec["selftrain"])), "selftrain"
    t = protocol["train"]
    chosen = merged(selection_settings(protocol, roots),
                    {"way": t["way"], "shot": t["shot"], "query": t["query"], "learner": spec["learner"],
                     "backbone": spec.get("backbone", "conv4")}, common,
                    {k: settings[k] for k in EPISODIC_KEYS if k in settings},
                    {"learner_option": list((config.get("learner_options") or {}).get(spec["learner"], []))},
                    flag_settings(train, spec.get("train") or spec.get("flags", [])))
    stages = "episodic"
    if spec.get("from"):
        if spec["from"] not in trained:
            raise ValueError(f"model {spec['name']!r} starts from {spec['from']!r}, which must be listed before it.")
        chosen["pretrained"] = str(trained[spec["from"]] / "best.pt")
        stages = f"{spec['from']} + episodic"
    return train, api.train, chosen, stages


def train_stage(spec: dict[str, Any], protocol: dict[str, Any], config: dict[str, Any], roots: dict[str, str],
                out: Path, trained: dict[str, Path]) -> tuple[Path, str]:
    """Train ``spec`` (or reuse its finished run) through the Python API; its CPU and wall time go
    to ``harness.json``. A protocol that trains as another uses that one's training settings (its
    validation shape included)."""
    command, run, settings, stages = stage_settings(spec, protocol.get("_training") or protocol, config, roots,
                                                    trained)
    run_dir = out / f"{training_name(protocol)}-{spec['name'].replace(' ', '-')}"
    start = starting_weights(settings)
    if (run_dir / "harness.json").is_file():
        check_reusable(run_dir, settings, command, start)
        return run_dir, stages
    earlier = interrupted_attempts(run_dir, settings, command, start)
    if earlier is None and run_dir.exists():  # an unfinished attempt that cannot go on: start again
        shutil.rmtree(run_dir)
    if earlier:
        print(f"resuming {run_dir}: {len(earlier)} earlier attempt(s), "
              f"{sum(a['cpu_minutes'] for a in earlier):.1f} CPU minutes so far")
    with AttemptClock(run_dir / ATTEMPTS, earlier or [], starts_from=start) as clock:
        run(**settings, output=str(out), name=run_dir.name, **({"resume": str(run_dir)} if earlier else {}))
    with atomic_open(run_dir / "harness.json") as f:
        json.dump(clock.totals(), f)
    (run_dir / ATTEMPTS).unlink(missing_ok=True)
    return run_dir, stages


def untrained_name(backbone: str, settings: dict[str, Any], options: Sequence[str] = ()) -> str:
    """File of the untrained model: one per backbone, its options, input format and seed."""
    tag = "-" + hashlib.sha256(" ".join(options).encode()).hexdigest()[:8] if options else ""
    return (f"untrained-{backbone}{tag}-{settings.get('image_size', 48)}px-{settings.get('channels', 1)}ch-"
            f"{settings.get('normalization', 'half')}-seed{settings.get('seed', 0)}.pt")


def untrained_checkpoint(backbone: str, settings: dict[str, Any], options: Sequence[str], path: Path) -> Path:
    """A prototypical network around a randomly initialised ``backbone`` built with ``options``
    (``["widths=[32,64,128,256]"]``; seeded), saved once."""
    if not path.is_file():
        channels = settings.get("channels", 1)
        config = model_config("protonet", backbone, channels, settings.get("image_size", 48),
                              backbone_kwargs=parse_options(options, "--backbone-option"),
                              **input_config({"channels": channels, **settings}))
        torch.manual_seed(settings.get("seed", 0))
        save_checkpoint({"model": build_model(config).state_dict(), "model_config": config,
                         "args": {"train_classes": []}}, path)
    return path


def run_protocol(protocol: dict[str, Any], config: dict[str, Any], out: Path, results: Path,
                 combined: bool = True) -> list[dict]:
    """Train (or reuse) and score every row of ``config`` on ``protocol``; the table goes to
    ``results`` after every row (``combined``: with the README of all tables)."""
    table = ProtocolTable(protocol, config, out, results, combined)
    for spec in table.specs:
        table.add(spec)
    return table.rows


class ProtocolTable:
    """One protocol's table (at one seed), built a row at a time by ``add``; its files are
    rewritten after every row. ``carry``: rows an earlier run scored are taken from ``results``
    (``carry.py``) rather than trained and scored again."""

    def __init__(self, protocol: dict[str, Any], config: dict[str, Any], out: Path, results: Path,
                 combined: bool = True, carry: bool = False, checked: tuple[list[str], list[str]] | None = None):
        self.protocol, self.config, self.out, self.results, self.combined = protocol, config, out, results, combined
        self.roots = {k: str(v) for k, v in (config.get("data_roots") or {}).items()}
        self.settings = protocol_settings(protocol, config)
        self.shared, self.target_classes = checked or check_protocol(protocol, self.roots,
                                                                     self.settings.get("image_size", 48))
        self.episodes_file = out / "episodes" / f"{protocol['name']}.json"
        self.specs = model_specs(config)
        self.keys = row_keys(self.specs, protocol, config) if carry else {}
        self.carried = load_carried(results, protocol, self.keys) if carry else {}
        self.records: dict[str, dict[str, Any]] = {}  # what carries each row of this table over
        self.rows: list[dict[str, Any]] = []
        self.trained: dict[str, Path] = {}
        self.scored: dict[str, Path] = {}  # each earlier one-checkpoint row's checkpoint, for ``of`` rows

    def add(self, spec: dict[str, Any], needed: set[str] | None = None) -> None:
        """Train (or reuse) and score row ``spec``; a carried row is taken as it is, and trained
        again (not scored) only when its name is in ``needed`` (a row to come needs its weights)."""
        protocol, config, out, roots = self.protocol, self.config, self.out, self.roots
        if not runs_at_seed(spec, config.get("_seed")):
            return
        name, carried = spec["name"], self.carried.get(spec["name"])
        if carried is not None and (needed is None or name not in needed):
            return self._append(carried_row(carried), carried)
        row = {"protocol": protocol["name"], "model": name, "shared_classes": " ".join(self.shared),
               "val_accuracy": "", "val_ci95": "", "best_epoch": "-", "faces_seen": "", "cpu_minutes": ""}
        if "untrained" in spec:
            options = spec.get("backbone_option") or []
            checkpoint = untrained_checkpoint(spec["untrained"], self.settings, options,
                                              out / untrained_name(spec["untrained"], self.settings, options))
            row.update(stages=UNTRAINED, faces_seen=0, cpu_minutes=0.0)
        elif "checkpoint" in spec:  # trained outside the harness
            checkpoint = Path(spec["checkpoint"])
            row.update(stages="given checkpoint", commit="-")
        elif "of" in spec:  # an earlier model (untrained ones too) scored with test-time options
            if spec["of"] not in self.scored:
                raise ValueError(f"model {name!r} scores {spec['of']!r}, which must be a model (not an "
                                 f"ensemble) listed before it.")
            checkpoint = self.scored[spec["of"]]
            earlier = next(r for r in self.rows if r["model"] == spec["of"])
            row.update({k: earlier[k] for k in ("stages", "faces_seen", "cpu_minutes", "val_accuracy", "val_ci95",
                                                "best_epoch", "commit")})
        elif "ensemble" in spec:  # soft vote of earlier trained models on the same episodes
            checkpoint, members = ensemble_members(spec, self.trained), [
                next(r for r in self.rows if r["model"] == m) for m in spec["ensemble"]]
            row.update(stages="ensemble of " + " + ".join(spec["ensemble"]),
                       faces_seen=sum(m["faces_seen"] for m in members),
                       cpu_minutes=round(sum(m["cpu_minutes"] for m in members), 3),
                       commit=" ".join(dict.fromkeys(m["commit"] for m in members)))
        elif "peer" in spec:  # another toolkit's model, trained and scored its own way (peer_rows.py)
            run_dir, budget = train_peer_row(spec, protocol.get("_training") or protocol, config, roots, out)
            result_dir = out / f"test-{protocol['name']}" / name.replace(" ", "-")
            row.update(**budget, **score_peer_row(protocol, run_dir, roots, self.episodes_file, result_dir,
                                                  bool(config.get("keep_duplicates"))),
                       _accs=episode_accuracies(result_dir))
            record_scoring(ledger_dir(config, self.results), protocol, name, config.get("_seed"), row,
                           row["scored_on"], config.get("_path", ""))
            return self._append(row, self._record(row, name, []))
        else:
            run_dir, stages = train_stage(spec, protocol, config, roots, out, self.trained)
            self.trained[name] = run_dir
            checkpoint = run_dir / "best.pt"
            faces, minutes = faces_seen(run_dir), cpu_minutes(run_dir)
            if spec.get("from"):  # the pre-training budget counts too
                base = self.trained[spec["from"]]
                faces += faces_seen(base)
                minutes += cpu_minutes(base)
            row.update(stages=stages, faces_seen=faces, cpu_minutes=round(minutes, 3), commit=trained_on(run_dir),
                       **selection(run_dir))
        if not isinstance(checkpoint, list):
            self.scored[name] = checkpoint
        if carried is not None:  # trained again for a row to come; its figures are the ones carried over
            if checkpoint_digest(checkpoint) != carried["checkpoint_sha256"]:
                print(f"note: {name} (seed {config.get('_seed')}) trained again differs from the checkpoint its "
                      f"carried figures were scored on; the rows scored from it now use the new one.")
            return self._append(carried_row(carried), carried)
        paths = checkpoint if isinstance(checkpoint, list) else [checkpoint]
        ckpts = [load_checkpoint(p) for p in paths]
        leak = sorted({c for ck in ckpts for c in ck.get("args", {}).get("train_classes", [])}
                      & set(self.target_classes))
        if protocol["unseen"] and leak:
            raise ValueError(f"model {name!r} was trained on {leak}, which protocol {protocol['name']!r} "
                             f"keeps unseen; train it with --classes excluding them.")
        result_dir = out / f"test-{protocol['name']}" / name.replace(" ", "-")
        commit = config.get("_commit") or git_commit()
        row.update(backbone=" + ".join(dict.fromkeys(ck["model_config"]["backbone"] for ck in ckpts)),
                   **score_on_target(protocol, checkpoint, roots, self.episodes_file, result_dir,
                                     bool(config.get("keep_duplicates")), spec.get("eval") or [], commit),
                   **deciding_validation(protocol, checkpoint, roots, out, name,
                                         bool(config.get("keep_duplicates")), spec.get("eval") or [], commit),
                   _accs=episode_accuracies(result_dir))
        if row["stages"] == UNTRAINED:  # no training: the code that scored it
            row["commit"] = row["scored_on"]
        if row.pop("_fresh"):
            record_scoring(ledger_dir(config, self.results), protocol, name, config.get("_seed"), row,
                           row["scored_on"], config.get("_path", ""))
        self._append(row, self._record(row, name, checkpoint))

    def _record(self, row: dict[str, Any], name: str, checkpoint: Path | list[Path]) -> dict[str, Any] | None:
        if name not in self.keys:
            return None
        check_same_episodes(self.records.values(), self.episodes_file, carried_file(self.results, self.protocol))
        return record(row, self.keys[name], checkpoint, self.episodes_file)

    def _append(self, row: dict[str, Any], carried: dict[str, Any] | None) -> None:
        self.rows.append(row)
        add_paired_differences(self.rows, self.config.get("reference", "protonet"))
        planned = sum(runs_at_seed(s, self.config.get("_seed")) for s in self.specs)
        write_tables(self.protocol, self.rows, self.results, self.config, planned=planned, combined=self.combined)
        if carried is not None:
            self.records[row["model"]] = carried
            save_carried(self.results, self.protocol, self.records)


def runs_at_seed(spec: dict[str, Any], seed: int | None) -> bool:
    """Whether row ``spec`` runs at training seed ``seed``: a row may list its own ``seeds`` (a
    subset of the config's, for a row too costly to train at every seed)."""
    own = spec.get("seeds")
    if own is None or seed is None:
        return True
    if not (isinstance(own, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in own)):
        raise ValueError(f"model {spec['name']!r}: seeds must be a list of whole numbers, got {own!r}.")
    return seed in own


def ledger_dir(config: dict[str, Any], results: Path) -> Path:
    """The results folder whose ``test-ledger.csv`` counts this config's test scorings (with seeds,
    the folder above the per-seed ones)."""
    return Path(config.get("_results", results))


def ensemble_members(spec: dict[str, Any], trained: dict[str, Path]) -> list[Path]:
    """The ``best.pt`` of each model an ensemble row votes with; each must be trained earlier in the list."""
    names = spec["ensemble"]
    if not isinstance(names, list) or len(names) < 2:
        raise ValueError(f"ensemble {spec['name']!r} must list two or more models, got {names!r}.")
    missing = [n for n in names if n not in trained]
    if missing:
        raise ValueError(f"ensemble {spec['name']!r} votes with {missing[0]!r}, which must be a trained model listed "
                         f"before it (trained here: {', '.join(trained) or 'none'}).")
    return [trained[n] / "best.pt" for n in names]


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
