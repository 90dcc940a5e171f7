"""Typed settings of a training run: ``TrainConfig`` groups them as data, episode shape, model,
optimisation and run, the groups of ``train --help``.

A config is only ever made through the ``train`` command's own parser and its resolution step
(``TrainConfig.parse``, ``TrainConfig.from_yaml``), so keyword arguments, a YAML file and the
command line get the same type, choice and range checks, and the same one-sentence errors.
``config.settings()`` is the flat mapping of flag names that ``--config`` takes and ``args.yaml``
records; ``fewshot_fer.api.train(config)`` runs it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class DataConfig:
    """What is read: datasets, folders, classes, the input format, and the datasets' own reading
    options (``reading``: ``cache_dir``, ``strict``, ``face_detector``, ``align`` ...; see the
    dataset catalogue)."""

    dataset: str
    val_dataset: str
    data_root: str | None
    val_data_root: str | None
    classes: str | None
    val_classes: str | None
    image_size: int
    channels: int
    normalization: str
    reading: dict[str, Any]


@dataclass(frozen=True)
class EpisodeShape:
    """Training and validation episodes: classes, support and query images per class, and counts."""

    way: int
    shot: int
    query: int
    val_way: int
    val_shot: int
    val_query: int
    episodes_per_epoch: int
    val_episodes: int


@dataclass(frozen=True)
class ModelConfig:
    """The learner and its backbone (``KEY=VALUE`` options as typed on the command line)."""

    learner: str
    backbone: str
    pretrained: str | None
    learner_option: list[str] | None
    backbone_option: list[str] | None


@dataclass(frozen=True)
class OptimConfig:
    """How long and how the model is trained."""

    epochs: int
    patience: int
    lr: float
    lr_schedule: str
    warmup_epochs: int
    augmentation: str
    augment: bool


@dataclass(frozen=True)
class RunConfig:
    """Where and how the run happens."""

    seed: int
    device: str
    output: str
    name: str | None
    resume: str | None
    workers: int


GROUPS = {"data": DataConfig, "episodes": EpisodeShape, "model": ModelConfig, "optim": OptimConfig, "run": RunConfig}


@dataclass(frozen=True)
class TrainConfig:
    """All settings of a ``train`` run, typed and checked; build it with ``parse`` or ``from_yaml``."""

    data: DataConfig
    episodes: EpisodeShape
    model: ModelConfig
    optim: OptimConfig
    run: RunConfig

    @classmethod
    def parse(cls, **settings: Any) -> "TrainConfig":
        """The config of ``train`` with these flag settings (``val_way=5`` for ``--val-way 5``),
        checked and resolved as the command does (``val_way`` defaults to ``way`` ...); a wrong
        key or value raises one ``ValueError`` sentence."""
        from . import train as command
        from .api import command_parser

        parser, argv = command_parser(command.build_parser, settings, "TrainConfig")
        return cls.from_settings(command.resolve_settings(parser.parse_args(argv)))

    @classmethod
    def from_yaml(cls, path: str | Path) -> "TrainConfig":
        """The config of a YAML file of flag names, such as a run's own ``args.yaml`` (its recorded,
        non-flag keys are skipped), checked like ``train --config FILE``."""
        from . import train as command
        from .api import raising_parser
        from .cli import parse_with_config

        parser = raising_parser(command.build_parser)
        return cls.from_settings(command.resolve_settings(parse_with_config(parser, ["--config", str(path)])))

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> "TrainConfig":
        """Group resolved flag settings; keys of no group go to ``data.reading``."""
        from .cli import RECORDED_KEYS

        typed = {name: [f.name for f in fields(kind) if f.name != "reading"] for name, kind in GROUPS.items()}
        grouped = {name: {k: settings.get(k) for k in keys} for name, keys in typed.items()}
        skip = {k for keys in typed.values() for k in keys} | RECORDED_KEYS | {"debug", "config"}
        grouped["data"]["reading"] = {k: v for k, v in settings.items() if k not in skip}
        return cls(**{name: GROUPS[name](**values) for name, values in grouped.items()})

    def settings(self) -> dict[str, Any]:
        """The flat flag settings (what ``--config`` takes and ``api.train`` accepts)."""
        flat: dict[str, Any] = {}
        for name in GROUPS:
            part = asdict(getattr(self, name))
            flat.update(part.pop("reading", {}))
            flat.update(part)
        return flat
