"""Build a learner from a plain settings dict, so checkpoints rebuild their model alone."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Sequence

import torch
import yaml
from torch import nn

from ..backbones import create_backbone, load_pretrained
from ..learners import FewShotLearner, create_learner


def model_config(learner: str, backbone: str, in_chans: int, image_size: int,
                 learner_kwargs: dict[str, Any] | None = None,
                 backbone_kwargs: dict[str, Any] | None = None,
                 mean: float = 0.5, std: float = 0.5) -> dict[str, Any]:
    """Everything needed to rebuild a model and feed it: architecture and input format."""
    return {"learner": learner, "backbone": backbone, "in_chans": in_chans, "image_size": image_size,
            "learner_kwargs": dict(learner_kwargs or {}), "backbone_kwargs": dict(backbone_kwargs or {}),
            "mean": mean, "std": std}


MODULE_PREFIX = "module:"  # the name recorded for a backbone or learner given from Python as an object


def module_name(module: nn.Module) -> str:
    """The name a backbone or learner given as an object is recorded under (``module:pkg.mod.Class``)."""
    return f"{MODULE_PREFIX}{type(module).__module__}.{type(module).__qualname__}"


def build_model(config: dict[str, Any], pretrained: str | None = None, backbone: nn.Module | None = None,
                learner: FewShotLearner | None = None) -> FewShotLearner:
    """The learner of ``config`` around a new backbone, or around a copy of ``backbone`` (any
    ``nn.Module`` mapping ``[B, C, H, W]`` images to features; ``centroid``, ``feat`` and
    ``relationnet`` also read its ``out_channels`` and take feature maps ``[B, D, h, w]``); or a
    copy of ``learner``, a ``FewShotLearner`` of the user's with its own backbone."""
    if learner is not None:
        if not isinstance(learner, FewShotLearner):
            raise ValueError(f"learner must be a fewshot_fer.learners.FewShotLearner, got {type(learner).__name__}.")
        learner = copy.deepcopy(learner)  # the caller's learner stays as it was
        if pretrained:
            load_pretrained(learner.backbone, pretrained, config["backbone"])
        return learner
    if str(config["learner"]).startswith(MODULE_PREFIX):
        raise ValueError(f"this model's learner was given as a Python object ({config['learner']}); pass one of the "
                         f"same class again, e.g. load_trained(path, learner=MyLearner(Net())) or "
                         f"evaluate(path, learner=MyLearner(Net())).")
    if backbone is None and str(config["backbone"]).startswith(MODULE_PREFIX):
        raise ValueError(f"this model's backbone was given as a Python module ({config['backbone']}); pass the same "
                         f"module again, e.g. load_trained(path, backbone=Net()) or evaluate(path, backbone=Net()).")
    if backbone is not None:
        if not isinstance(backbone, nn.Module):
            raise ValueError(f"backbone must be a torch.nn.Module, got {type(backbone).__name__}.")
        backbone = copy.deepcopy(backbone)  # the caller's module stays as it was
        if pretrained:
            load_pretrained(backbone, pretrained, config["backbone"])
    else:
        backbone = create_backbone(config["backbone"], in_chans=config["in_chans"], pretrained=pretrained,
                                   **config.get("backbone_kwargs", {}))
    return create_learner(config["learner"], backbone, **config.get("learner_kwargs", {}))


def parse_options(items: Sequence[str] | None, flag: str) -> dict[str, Any]:
    """``["inner_steps=3", "first_order=true"]`` -> ``{"inner_steps": 3, "first_order": True}``
    (values are read as YAML scalars: numbers, booleans, strings)."""
    options = {}
    for item in items or []:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{flag} {item!r} is not KEY=VALUE (for example {flag} inner_steps=3).")
        options[key.strip().replace("-", "_")] = yaml.safe_load(value) if value.strip() else None
    return options


# learner options that change no weights (centre's mean, when the checkpoint holds none, comes from
# the training faces: models/training_mean.py)
TEST_TIME_OPTIONS = ("flip", "shift", "centre", "centre_episode", "l2", "power", "transductive_steps")


def load_trained(path: str | Path, device: torch.device | str = "cpu", test_time: dict[str, Any] | None = None,
                 backbone: nn.Module | None = None, learner: FewShotLearner | None = None
                 ) -> tuple[FewShotLearner, dict[str, Any]]:
    """Rebuild the model saved in checkpoint ``path`` from the checkpoint alone; returns the
    learner (eval mode, on ``device``) and the checkpoint dict. ``test_time`` sets learner options
    that only change how the trained model predicts (``TEST_TIME_OPTIONS``: flip and shift averaging,
    centring on the training faces' mean feature, unit-length features and a power of their values
    before the class means, transductive refinement). ``backbone``: for a model trained with a
    backbone given as a module, a module of the same architecture (its weights are replaced);
    ``learner``: the same for a model trained as a learner object (test-time options are then the
    object's own)."""
    from ..weights import load_checkpoint, load_model_state

    checkpoint = load_checkpoint(path)
    config = checkpoint["model_config"]
    wrong = sorted(set(test_time or {}) - set(TEST_TIME_OPTIONS))
    if wrong:
        raise ValueError(f"{wrong[0]!r} cannot change after training; test-time options are "
                         f"{', '.join(TEST_TIME_OPTIONS)}.")
    if test_time and learner is not None:
        raise ValueError(f"test-time options ({', '.join(sorted(test_time))}) rebuild a registered learner; a learner "
                         f"given as an object keeps its own: set them on the object instead.")
    rebuilt = {**config, "learner_kwargs": {**config.get("learner_kwargs", {}), **(test_time or {})}}
    learner = build_model(rebuilt, backbone=backbone, learner=learner)
    load_model_state(learner, config, checkpoint, path, arch_config=rebuilt if test_time else None)
    # channels-last lets oneDNN pick faster convolution and pooling kernels: a Conv-4 embeds faces in
    # about 0.6x the time on a CPU (predict, evaluate and the harness all load through here)
    learner = learner.to(device, memory_format=torch.channels_last).eval()
    norm = getattr(learner, "norm", None)
    if norm is not None and norm.needs_mean and norm.centring.mean.numel() == 0:  # centred at test time only
        from .training_mean import centre_on_training_faces

        centre_on_training_faces(learner, checkpoint, path, device)
    return learner, checkpoint


def load_models(paths: Sequence[str | Path], device: torch.device | str = "cpu", test_time: dict[str, Any] | None = None,
                backbone: nn.Module | None = None, learner: FewShotLearner | None = None
                ) -> list[tuple[FewShotLearner, dict[str, Any]]]:
    """``load_trained`` of every checkpoint of an ensemble; they must read faces at one image
    size and channel count."""
    models = [load_trained(path, device, test_time, backbone, learner) for path in paths]
    shapes = {(c["model_config"]["image_size"], c["model_config"]["in_chans"]) for _, c in models}
    if len(shapes) > 1:
        raise ValueError(f"an ensemble needs models that read faces at one size and channel count; these checkpoints "
                         f"read {' and '.join(f'{s} px with {ch} channel(s)' for s, ch in sorted(shapes))}.")
    return models
