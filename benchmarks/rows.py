"""The rows of a benchmark config: which models a table has (``model_specs``: the config's
entries, a floor per backbone it trains, the seeds each row runs at) and how each is trained
(``stage_settings``, ``train_stage``: through the Python API, reusing or resuming its run folder)
or built untrained (``untrained_checkpoint``)."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Sequence

import torch

from episodes import atomic_open
from fewshot_fer import api
from fewshot_fer.commands import pretrain, selftrain, train
from fewshot_fer.models.build import build_model, model_config, parse_options
from fewshot_fer.training.data import input_config
from fewshot_fer.weights import save_checkpoint

from .protocol import (
    data_settings,
    protocol_settings,
    selection_settings,
    training_name,
)
from .run_records import ATTEMPTS, AttemptClock
from .run_reuse import check_reusable, interrupted_attempts, starting_weights
from .scoring import flag_settings, merged

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


def runs_at_seed(spec: dict[str, Any], seed: int | None) -> bool:
    """Whether row ``spec`` runs at training seed ``seed``: a row may list its own ``seeds`` (a
    subset of the config's, for a row too costly to train at every seed)."""
    own = spec.get("seeds")
    if own is None or seed is None:
        return True
    if not (isinstance(own, list) and all(isinstance(s, int) and not isinstance(s, bool) for s in own)):
        raise ValueError(f"model {spec['name']!r}: seeds must be a list of whole numbers, got {own!r}.")
    return seed in own


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
