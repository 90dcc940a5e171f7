"""The Python front door: the commands as functions that return results.

    from fewshot_fer.api import train, evaluate
    run = train(way=3, shot=5, epochs=2, output="runs", name="demo")
    print(run.best_accuracy, run.checkpoint)
    scores = evaluate(run.checkpoint, shots=[1, 5], episodes=200)
    print(scores.accuracy(5), scores.ci95(5))

Settings are typed recipes (``fewshot_fer.training.recipes``: ``EpisodicRecipe``, ``PretrainRecipe``,
``SelfTrainRecipe``), or keywords named as the flags with underscores (``val_way=5`` for
``--val-way 5``; a list for a repeatable flag). A keyword, a ``--config`` key and a flag are
checked by the same recipe field, so a wrong one is the same one-sentence ``ValueError``. The pieces
(datasets, backbones, learners, trained models) are here too.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn, Sequence

import torch

from .backbones import create_backbone
from .commands.cli import config_tokens
from .data import FaceDataset, create_dataset
from .data.catalog import GIVEN
from .demo.recognizer import Recognizer
from .learners import create_learner
from .models.build import load_trained, module_name
from .models.exported import load_exported
from .training.recipes import EpisodicRecipe, PretrainRecipe, SelfTrainRecipe
from .training.recipes.base import R

__all__ = ["EpisodicRecipe", "EvalResult", "PretrainRecipe", "SelfTrainRecipe", "SelfTrainResult", "TrainResult",
           "create_backbone", "create_dataset", "create_learner", "evaluate", "load_exported", "load_trained",
           "pretrain", "selftrain", "train"]


@dataclass(frozen=True)
class TrainResult:
    """A finished training run: its folder, and the epoch validation selected.

    Attributes:
        run_dir: the run directory (``args.yaml``, ``metrics.csv``, ``best.pt``, ``last.pt``, ...).
        best_accuracy: mean validation accuracy of the best epoch, in [0, 1].
        best_ci95: half-width of its 95% confidence interval.
        best_epoch: that epoch (1-based).
        history: one dict per epoch (the rows of ``metrics.csv``).
    """

    run_dir: Path
    best_accuracy: float
    best_ci95: float
    best_epoch: int
    history: list[dict[str, Any]]

    @property
    def checkpoint(self) -> Path:
        """``best.pt``: the model of the best epoch, for ``evaluate``, ``predict`` and ``export``."""
        return self.run_dir / "best.pt"


@dataclass(frozen=True)
class SelfTrainResult:
    """A finished self-training run: its folder and the test summary (``summary.json``: every
    round's accuracy, the kept round, the fresh member and the ensemble)."""

    run_dir: Path
    summary: dict[str, Any]

    @property
    def checkpoint(self) -> Path:
        """``best.pt``: the round validation kept."""
        return self.run_dir / "best.pt"


@dataclass(frozen=True)
class EvalResult:
    """Scores of a checkpoint on fixed episodes, per shot.

    Attributes:
        output_dir: the results folder (``summary.json``, ``episodes.csv``, ``confusion.png``, ...).
        summary: the contents of ``summary.json``.
        accuracies: shot -> per-episode accuracies ``[n_episodes]`` (float64).
    """

    output_dir: Path
    summary: dict[str, Any]
    accuracies: dict[int, torch.Tensor]

    def accuracy(self, shot: int | None = None) -> float:
        """Mean accuracy over the episodes of ``shot`` (default: the only or first shot)."""
        return self.summary["shots"][str(self._shot(shot))]["accuracy"]

    def ci95(self, shot: int | None = None) -> float:
        """Half-width of the 95% confidence interval of ``accuracy(shot)``."""
        return self.summary["shots"][str(self._shot(shot))]["ci95"]

    def _shot(self, shot: int | None) -> int:
        if shot is None:
            return next(iter(self.accuracies))
        if shot not in self.accuracies:
            raise ValueError(f"no results for {shot}-shot; these shots were scored: {sorted(self.accuracies)}.")
        return shot


def _raise(message: str) -> NoReturn:
    raise ValueError(message.rstrip(".") + ".")


def raising_parser(build_parser) -> argparse.ArgumentParser:
    """The command's own parser, whose errors raise ``ValueError`` instead of printing usage and
    exiting (same flags, same checks)."""
    parser = build_parser()
    parser.error = _raise  # type: ignore[method-assign]
    return parser


def command_parser(build_parser, settings: dict[str, Any], where: str) -> tuple[argparse.ArgumentParser, list[str]]:
    """``raising_parser`` and the command-line tokens of ``settings`` (flag names with underscores)."""
    parser = raising_parser(build_parser)
    dests = {a.dest for a in parser._actions if a.option_strings} - {"help", "debug"}
    unknown = sorted(set(settings) - dests)
    if unknown:
        raise ValueError(f"{where} has no setting {unknown[0]!r}; its settings are the flags of the command "
                         f"with underscores, e.g. {sorted(dests)[:6]}.")
    values = {k: (list(v) if isinstance(v, tuple) else v) for k, v in settings.items()}
    return parser, config_tokens(parser, where, values)


def recipe_of(kind: type[R], recipe: R | None, settings: dict[str, Any], where: str) -> R:
    """``recipe`` (default: the recipe's defaults) with keyword ``settings`` replacing some values,
    checked as the command line and a ``--config`` file are."""
    if recipe is not None and not isinstance(recipe, kind):
        raise ValueError(f"{where} takes a {kind.__name__}, got a {type(recipe).__name__}.")
    sources = [("recipe", recipe.settings())] if recipe is not None else []
    return kind.build(*sources, (where, settings))


def train(recipe: EpisodicRecipe | None = None, **settings: Any) -> TrainResult:
    """Train a few-shot learner, exactly as ``python -m fewshot_fer.train`` with these settings.

    Example: ``train(learner="protonet", backbone="conv4", way=3, shot=5, epochs=10)``; with no
    settings, the built-in default (synthetic faces). ``resume="runs/NAME"`` continues a run.
    ``backbone`` may be any ``torch.nn.Module`` mapping ``[B, C, H, W]`` images (C = ``channels``)
    to features: a copy of it is trained, and ``evaluate(checkpoint, backbone=module)`` or
    ``load_trained(checkpoint, backbone=module)`` read the result back (``centroid``, ``feat``
    and ``relationnet`` also need its ``out_channels`` and feature maps ``[B, D, h, w]``).
    ``learner`` may be a ``FewShotLearner`` object of the user's (with its own backbone): a copy of
    it is trained, and ``evaluate(checkpoint, learner=obj)`` or ``load_trained(checkpoint,
    learner=obj)`` read the result back. ``train_set`` and ``val_set`` may be ``FaceDataset``
    objects (``fewshot_fer.data.FaceDataset``: uint8 faces ``[N, C, S, S]``, labels ``[N]``,
    class names, one key per face, optional groups such as people ``[N]``), trained on in place of
    ``dataset`` (recorded as ``object:NAME``; resuming needs them again). ``recipe``: an ``EpisodicRecipe``
    (``EpisodicRecipe.from_yaml("runs/X/args.yaml")`` repeats run X), with ``settings`` replacing
    some of its values (``name="again"``).
    """
    from .training.episodic import run

    backbone, learner = settings.get("backbone"), settings.get("learner")
    if isinstance(learner, torch.nn.Module):  # a learner of the user's: trained as it is, recorded by its class
        if backbone is not None:
            raise ValueError("fewshot_fer.api.train(): a learner given as an object brings its own backbone; leave "
                             f"out backbone={backbone!r:.40}.")
        backbone = learner.backbone if isinstance(getattr(learner, "backbone", None), torch.nn.Module) else None
        settings = {**settings, "learner": module_name(learner), "backbone": module_name(backbone or learner)}
        backbone = None
    else:
        learner = None
    if isinstance(backbone, torch.nn.Module):  # a module of the user's: trained as it is, recorded by its class
        settings = {**settings, "backbone": module_name(backbone)}
    else:
        backbone = None
    settings, data = given_datasets(settings)
    built = recipe_of(EpisodicRecipe, recipe, settings, "fewshot_fer.api.train()")
    return train_result(run(built, settings, backbone, learner, data).resolve())


def given_datasets(settings: dict[str, Any]) -> tuple[dict[str, Any], tuple[FaceDataset, FaceDataset] | None]:
    """``train_set`` and ``val_set`` taken out of ``settings`` (both ``FaceDataset`` objects, or
    neither); the settings then name them (``object:NAME``) and take their image size and channels."""
    train_set, val_set = settings.get("train_set"), settings.get("val_set")
    settings = {k: v for k, v in settings.items() if k not in ("train_set", "val_set")}
    if train_set is None and val_set is None:
        return settings, None
    for what, value in (("train_set", train_set), ("val_set", val_set)):
        if not isinstance(value, FaceDataset):
            raise ValueError(f"fewshot_fer.api.train(): {what} must be a fewshot_fer.data.FaceDataset (give train_set "
                             f"and val_set together), got {type(value).__name__}.")
    shapes = {tuple(d.images.shape[1:]) for d in (train_set, val_set)}
    (channels, height, width), = shapes if len(shapes) == 1 else [(0, 0, 0)]
    if len(shapes) > 1 or height != width:
        raise ValueError(f"fewshot_fer.api.train(): train_set and val_set must hold square faces of one size and "
                         f"channel count, got [C, H, W] {sorted(shapes)}.")
    for key, value in (("image_size", height), ("channels", channels)):
        if settings.get(key, value) != value:
            raise ValueError(f"fewshot_fer.api.train(): {key}={settings[key]} does not match the given datasets' "
                             f"faces ({value}); leave it out to take theirs.")
    named = {"dataset": f"{GIVEN}{train_set.name or 'train_set'}", "val_dataset": f"{GIVEN}{val_set.name or 'val_set'}",
             "image_size": height, "channels": channels}
    return {**settings, **named}, (train_set, val_set)


def pretrain(recipe: PretrainRecipe | None = None, **settings: Any) -> TrainResult:
    """Supervised pre-training, exactly as ``python -m fewshot_fer.pretrain`` with these settings
    (``pretrain(backbone="conv4", epochs=20, augmentation="face")``); its ``checkpoint`` is what
    ``train(pretrained=...)`` and ``evaluate`` take."""
    from .training.pretraining import run

    built = recipe_of(PretrainRecipe, recipe, settings, "fewshot_fer.api.pretrain()")
    return train_result(run(built, settings).resolve())


def selftrain(recipe: SelfTrainRecipe | None = None, **settings: Any) -> SelfTrainResult:
    """The self-training CNN baseline, exactly as ``python -m fewshot_fer.selftrain`` with these
    settings; returns its run directory and test summary."""
    from .training.selftraining import run

    built = recipe_of(SelfTrainRecipe, recipe, settings, "fewshot_fer.api.selftrain()")
    run_dir, summary = run(built, settings)
    return SelfTrainResult(run_dir.resolve(), summary)


def train_result(run_dir: Path) -> TrainResult:
    """A finished ``train`` or ``pretrain`` run as a ``TrainResult``, from its ``last.pt``."""
    from .weights import load_checkpoint

    progress = load_checkpoint(run_dir / "last.pt")["progress"]
    best = next(r for r in progress["history"] if r["epoch"] == progress["best_epoch"])
    return TrainResult(run_dir, float(best["val_acc"]), float(best["val_ci95"]), int(progress["best_epoch"]),
                       list(progress["history"]))


def evaluate(checkpoint: str | Path | Sequence[str | Path], **settings: Any) -> EvalResult:
    """Score ``checkpoint`` on fixed episodes, exactly as ``python -m fewshot_fer.evaluate``; a list
    of checkpoints is scored as their soft-voting ensemble.

    Example: ``evaluate("runs/X/best.pt", dataset="synthetic-compound", split="test", shots=[1, 5])``.
    ``test_set``: a ``FaceDataset`` object scored in place of ``dataset``; ``backbone`` and
    ``learner``: the objects a model trained with them needs again.
    """
    from .commands import evaluate as command

    paths = [checkpoint] if isinstance(checkpoint, (str, Path)) else list(checkpoint)
    backbone, learner = settings.pop("backbone", None), settings.pop("learner", None)
    test_set = settings.pop("test_set", None)
    if test_set is not None and not isinstance(test_set, FaceDataset):
        raise ValueError(f"fewshot_fer.api.evaluate(): test_set must be a fewshot_fer.data.FaceDataset, got "
                         f"{type(test_set).__name__}.")
    for what, value in (("backbone", backbone), ("learner", learner)):
        if value is not None and not isinstance(value, torch.nn.Module):
            raise ValueError(f"fewshot_fer.api.evaluate(): {what} must be a torch.nn.Module (for a model trained "
                             f"with one), got {type(value).__name__}.")
    if "shots" in settings and isinstance(settings["shots"], (list, tuple)):
        settings = {**settings, "shots": ",".join(str(s) for s in settings["shots"])}
    parser, argv = command_parser(command.build_parser, {"checkpoint": [str(c) for c in paths], **settings},
                         "fewshot_fer.api.evaluate()")
    out, summary, per_shot = command.run(argv, parser, backbone, learner, test_set)
    out = out.resolve()
    return EvalResult(out, summary, per_shot)


def load_pretrained(face_detector: str = "haar", align: bool = False) -> Recognizer:
    """The model shipped in the package (``fewshot_fer/models/pretrained/MODEL_CARD.md``: trained on
    FER2013's seven basic expressions), ready to be fitted to your faces with no training and no
    network: ``load_pretrained().fit([("happy", [paths]), ("sad", [paths])]).recognise(rgb)`` gives
    every face of an RGB photo ``[H, W, 3]`` uint8 with its box, label and probability.
    ``face_detector`` (haar, mtcnn or a cascade XML file) finds faces in support images and photos;
    ``align`` levels the eyes of each face first."""
    return Recognizer(detector=face_detector, align=align)
