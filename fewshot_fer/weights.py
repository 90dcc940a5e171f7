"""Checkpoint files: written atomically, read with ``torch.load(weights_only=True)`` (a file that
holds anything but tensors, numbers, strings, lists and dicts is refused, never unpickled), and
loaded into a model only when its architecture matches. The model layer (``model``,
``backbones``) and the runtime (``engine``) both read weights through this module, which imports
nothing of either."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from episodes import atomic_open

ARCH_KEYS = ("learner", "backbone", "in_chans", "learner_kwargs", "backbone_kwargs")
CONFIG_KEYS = ("learner", "backbone", "in_chans", "image_size", "mean", "std")  # what rebuilding needs


def state_mismatch(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor]) -> str:
    """What keeps ``state`` from loading into a model whose state dict is ``own``, in one line
    (missing keys, unexpected keys, shape mismatches; the first three of each), or ``""``."""
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
              if k in state and tuple(state[k].shape) != tuple(v.shape)]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing keys, first {missing[:3]}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected keys, first {unexpected[:3]}")
    if shapes:
        parts.append(f"shape mismatches (file vs model) {shapes[:3]}")
    return "; ".join(parts)


def save_checkpoint(state: dict[str, Any], path: str | Path) -> None:
    """Save ``state`` (tensors, numbers, strings, lists and dicts only) atomically."""
    with atomic_open(path, "wb") as f:
        torch.save(state, f)


def safe_torch_load(path: Path, what: str) -> Any:
    """``torch.load(weights_only=True)`` on the CPU; a file it refuses gets one clear sentence."""
    if path.is_file() and path.stat().st_size == 0:
        raise ValueError(f"{path} could not be read as {what}: the file is empty (0 bytes), perhaps cut off "
                         f"while it was copied or written.")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle errors come in many types
        message = str(err)
        if "Weights only load failed" in message:
            # torch's own text advises weights_only=False, which would run code from the file.
            reason = ("it is not a PyTorch file, or it holds objects other than tensors, numbers and "
                      "strings, which are not loaded for safety")
        elif isinstance(err, (EOFError, KeyError, IndexError)) or "invalid load key" in message or \
                message.strip().isdigit() or "failed finding central directory" in message:  # text or truncated
            reason = "it is not a PyTorch file (or it is truncated)"
        else:
            reason = message.strip().splitlines()[0].rstrip(".") if message.strip() else type(err).__name__
        raise ValueError(f"{path} could not be read as {what}: {reason}.") from None


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a fewshot-fer checkpoint on the CPU, refusing anything that is not one."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give a checkpoint file such as {path / 'best.pt'}.")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist.")
    state = safe_torch_load(path, "a fewshot-fer checkpoint")
    if not isinstance(state, dict) or "model" not in state or "model_config" not in state:
        raise ValueError(f"{path} is not a fewshot-fer checkpoint (expected a dict with 'model' "
                         f"and 'model_config').")
    config = state["model_config"]
    missing = [k for k in CONFIG_KEYS if not isinstance(config, dict) or k not in config]
    if missing:
        raise ValueError(f"{path} is not a usable fewshot-fer checkpoint: its model_config lacks {missing}.")
    if "state" in state and "progress" not in state:  # train's checkpoints before the one layout
        state["progress"] = state.pop("state")
    return state


def describe(config: dict[str, Any]) -> str:
    return (f"{config.get('learner')}/{config.get('backbone')} with {config.get('in_chans')} input "
            f"channel(s)")


def load_model_state(model: nn.Module, config: dict[str, Any], checkpoint: dict[str, Any],
                     path: str | Path, arch_config: dict[str, Any] | None = None) -> None:
    """Load the checkpoint's weights into ``model`` built from ``config``, refusing another
    architecture with a sentence naming both. ``arch_config``: what ``model`` was really built
    from, when test-time options were changed (named in errors)."""
    saved = checkpoint["model_config"]
    if any(saved.get(k) != config.get(k) for k in ARCH_KEYS):
        raise ValueError(f"checkpoint {path} holds a {describe(saved)} model, which does not fit the "
                         f"requested {describe(config)} model.")
    try:  # load_state_dict first: some modules resize their buffers on load (a centring mean)
        model.load_state_dict(checkpoint["model"])
    except RuntimeError as err:
        problem = state_mismatch(model.state_dict(), checkpoint["model"]) or str(err).strip().splitlines()[0]
        raise ValueError(f"checkpoint {path} does not fit a {describe(arch_config or config)} model: "
                         f"{problem}.") from None
