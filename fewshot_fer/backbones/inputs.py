"""Input checks shared by the backbones."""

from __future__ import annotations

import torch


def check_input(x: torch.Tensor, in_chans: int, min_size: int, name: str) -> None:
    """One readable sentence instead of a shape error deep inside a convolution."""
    if x.dim() != 4 or x.shape[1] != in_chans:
        raise ValueError(f"{name} expects [B, {in_chans}, H, W] input, got {tuple(x.shape)}.")
    if min(x.shape[-2:]) < min_size:
        raise ValueError(f"{name} needs images of at least {min_size}x{min_size} pixels, got "
                         f"{tuple(x.shape[-2:])}.")
