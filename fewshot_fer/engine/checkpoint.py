"""Checkpoints: written atomically, read with ``torch.load(weights_only=True)``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from episodes import atomic_open

ARCH_KEYS = ("learner", "backbone", "in_chans", "learner_kwargs", "backbone_kwargs")


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Save ``state`` (tensors, numbers, strings, lists and dicts only) atomically."""
    with atomic_open(path, "wb") as f:
        torch.save(state, f)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a fewshot-fer checkpoint on the CPU, refusing anything that is not one."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give a checkpoint file such as {path / 'best.pt'}.")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle errors come in many types
        raise ValueError(f"{path} could not be read as a fewshot-fer checkpoint ({err}).") from None
    if not isinstance(state, dict) or "model" not in state or "model_config" not in state:
        raise ValueError(f"{path} is not a fewshot-fer checkpoint (expected a dict with 'model' "
                         f"and 'model_config').")
    return state


def describe(config: dict[str, Any]) -> str:
    return (f"{config.get('learner')}/{config.get('backbone')} with {config.get('in_chans')} input "
            f"channel(s)")


def load_model_state(model: nn.Module, config: dict[str, Any], checkpoint: dict[str, Any],
                     path: str | Path) -> None:
    """Load the checkpoint's weights into ``model`` built from ``config``, refusing another
    architecture with a sentence naming both."""
    saved = checkpoint["model_config"]
    if any(saved.get(k) != config.get(k) for k in ARCH_KEYS):
        raise ValueError(f"checkpoint {path} holds a {describe(saved)} model, which does not fit the "
                         f"requested {describe(config)} model.")
    try:
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as err:
        raise ValueError(f"checkpoint {path} does not fit a {describe(config)} model: {err}") from None
