"""Loading backbone weights from a local file (nothing is ever downloaded)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def load_pretrained(model: nn.Module, path: str | Path, name: str) -> None:
    """Load a state dict (or a checkpoint holding one under ``state_dict`` / ``model``) into
    ``model``, refusing missing, unexpected or mis-shaped keys with a sentence naming them."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"pretrained weights for backbone {name!r} not found at {path}; download them yourself "
            f"and pass the local file with --pretrained (fewshot-fer never downloads at run time).")
    state = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise ValueError(f"{path} does not hold a state dict (got {type(state).__name__}).")
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
              if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing keys {missing[:5]}")
        if unexpected:
            parts.append(f"unexpected keys {unexpected[:5]}")
        if shapes:
            parts.append(f"shape mismatches (file vs model) {shapes[:5]}")
        raise ValueError(f"weights in {path} do not fit backbone {name!r}: {'; '.join(parts)}.")
    model.load_state_dict(state)
