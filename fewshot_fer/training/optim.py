"""The one place optimisers are built: Adam, or SGD with Nesterov momentum (RFS's), each with
weight decay; the learning rate of each epoch comes from ``schedule.epoch_lr``."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import torch

OPTIMIZERS = ("adam", "sgd")


def build_optimizer(parameters: Iterable[torch.nn.Parameter], settings: Mapping[str, Any]) -> torch.optim.Optimizer:
    """``settings["optimizer"]`` (default ``adam``) at ``settings["lr"]``, with
    ``settings["weight_decay"]`` (default 0) and, for SGD, ``settings["momentum"]`` (Nesterov when
    positive). Runs saved before a setting existed read its default (Adam, no weight decay)."""
    kind = settings.get("optimizer", "adam")
    if kind not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {kind!r}.")
    decay = settings.get("weight_decay", 0.0)
    if kind == "sgd":
        momentum = settings.get("momentum", 0.9)
        return torch.optim.SGD(parameters, lr=settings["lr"], momentum=momentum, nesterov=momentum > 0,
                               weight_decay=decay)
    return torch.optim.Adam(parameters, lr=settings["lr"], weight_decay=decay)
