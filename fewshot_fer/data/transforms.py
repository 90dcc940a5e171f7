"""Batched tensor transforms applied in the hot loop (images are decoded once, up front)."""

from __future__ import annotations

import torch


def to_model_input(x: torch.Tensor, mean: float = 0.5, std: float = 0.5) -> torch.Tensor:
    """uint8 ``[B, C, H, W]`` -> float ``(x / 255 - mean) / std``."""
    return (x.float().div_(255) - mean) / std


def augment(x: torch.Tensor, gen: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Random horizontal flip and a shift of up to ``max_shift`` pixels, per image, in one pass.

    ``x``: float ``[B, C, H, W]``. The draws come from ``gen`` so an episode's augmentation is
    reproducible.
    """
    b, _, h, w = x.shape
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip.view(b, 1, 1, 1).to(x.device), x.flip(-1), x)
    if max_shift <= 0:
        return x
    # Integer shifts as one gather over a replicate-padded batch.
    shifts = torch.randint(-max_shift, max_shift + 1, (b, 2), generator=gen).to(x.device)
    padded = torch.nn.functional.pad(x, (max_shift,) * 4, mode="replicate")
    rows = (torch.arange(h, device=x.device).view(1, h) + max_shift + shifts[:, :1]).view(b, 1, h, 1)
    cols = (torch.arange(w, device=x.device).view(1, w) + max_shift + shifts[:, 1:]).view(b, 1, 1, w)
    padded = padded.gather(2, rows.expand(b, x.shape[1], h, padded.shape[-1]))
    return padded.gather(3, cols.expand(b, x.shape[1], h, w))


def rotate(x: torch.Tensor, gen: torch.Generator, max_degrees: float = 10.0) -> torch.Tensor:
    """Rotate each image of ``x`` ``[B, C, H, W]`` by its own random angle in
    ``[-max_degrees, max_degrees]`` (bilinear, edges replicated), in one batched resampling."""
    if max_degrees <= 0:
        return x
    b = x.shape[0]
    angle = (torch.rand(b, generator=gen) * 2 - 1) * max_degrees * torch.pi / 180
    cos, sin = angle.cos(), angle.sin()
    zero = torch.zeros(b)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = torch.nn.functional.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
