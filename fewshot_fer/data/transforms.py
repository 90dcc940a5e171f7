"""Batched tensor transforms applied in the hot loop (images are decoded once, up front)."""

from __future__ import annotations

from typing import Sequence

import torch

# --normalization: pixel mean and std after scaling to 0..1. "half" maps 0..1 to -1..1; "imagenet"
# is torchvision's ImageNet statistics (per channel for RGB; their averages for greyscale), for
# backbones pre-trained on ImageNet and the few-shot notes' 84 px RGB protocol.
NORMALIZATIONS = {"half": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
                  "imagenet": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))}
NORMALIZATION_HELP = ("pixel normalisation of the model's input: half ((x - 0.5) / 0.5) or imagenet (torchvision's "
                      "ImageNet mean and std per RGB channel; their averages for greyscale)")


def input_normalization(name: str, channels: int) -> tuple[float | list[float], float | list[float]]:
    """``(mean, std)`` of normalisation ``name`` for ``channels`` 1 (floats) or 3 (per-channel lists)."""
    if name not in NORMALIZATIONS:
        raise ValueError(f"--normalization must be one of {', '.join(NORMALIZATIONS)}, got {name!r}.")
    mean, std = NORMALIZATIONS[name]
    if channels == 1:
        return round(sum(mean) / 3, 4), round(sum(std) / 3, 4)
    return list(mean), list(std)


def to_model_input(x: torch.Tensor, mean: float | Sequence[float] = 0.5,
                   std: float | Sequence[float] = 0.5) -> torch.Tensor:
    """uint8 ``[B, C, H, W]`` -> float ``(x / 255 - mean) / std``; ``mean`` and ``std`` are one
    number, or one per channel."""
    x = x.float().div_(255)
    if isinstance(mean, (int, float)) and isinstance(std, (int, float)):
        return (x - mean) / std
    shape = (1, -1, 1, 1)
    return (x - torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(shape)) / torch.as_tensor(
        std, dtype=x.dtype, device=x.device).view(shape)


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


def face_augment(x: torch.Tensor, gen: torch.Generator, max_degrees: float = 10.0, min_scale: float = 0.85,
                 max_shift: float = 0.06, jitter: float = 0.2, erase_p: float = 0.25) -> torch.Tensor:
    """The ``face`` policy, per image of ``x`` ``[B, C, H, W]`` (normalised floats): horizontal flip,
    rotation of up to ``max_degrees``, zoom into a crop of ``min_scale``-1 of the side shifted by up
    to ``max_shift`` of it (one batched affine resampling), brightness and contrast changes of up
    to ``jitter``, and with probability ``erase_p`` a rectangle of 2-12% of the face set to its mean
    (random erasing)."""
    b, _, h, w = x.shape
    u = lambda *shape: torch.rand(*shape, generator=gen)  # noqa: E731
    angle = (u(b) * 2 - 1) * max_degrees * torch.pi / 180
    scale = min_scale + (1 - min_scale) * u(b)
    flip = torch.where(u(b) < 0.5, -1.0, 1.0)
    shift = (u(b, 2) * 2 - 1) * max_shift * 2  # affine_grid coordinates span 2 per side
    cos, sin = angle.cos() * scale, angle.sin() * scale
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                         torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)
    grid = torch.nn.functional.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    x = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    contrast = (1 + (u(b) * 2 - 1) * jitter).view(b, 1, 1, 1).to(x)
    brightness = ((u(b) * 2 - 1) * jitter).view(b, 1, 1, 1).to(x)
    x = (x - mean) * contrast + mean + brightness
    area = 0.02 + 0.10 * u(b)
    aspect = torch.exp((u(b) * 2 - 1) * 0.8)
    eh = (area * aspect).sqrt().clamp(max=1) * h
    ew = (area / aspect).sqrt().clamp(max=1) * w
    top, left = u(b) * (h - eh), u(b) * (w - ew)
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    box = ((rows >= top.view(b, 1, 1)) & (rows < (top + eh).view(b, 1, 1))
           & (cols >= left.view(b, 1, 1)) & (cols < (left + ew).view(b, 1, 1)) & (u(b) < erase_p).view(b, 1, 1))
    return torch.where(box.unsqueeze(1).to(x.device), mean.expand_as(x), x)


AUGMENTATIONS = ("none", "flip-shift", "flip-rotate", "face")
AUGMENTATION_HELP = ("training augmentation: none; flip-shift (flip + shift of up to 2 px, the episodic default); "
                     "flip-rotate (flip + rotation of up to 10 degrees, the self-training study's); face (flip, "
                     "rotation, zoomed and shifted crop, brightness/contrast, random erasing)")


def apply_augmentation(x: torch.Tensor, gen: torch.Generator, policy: str) -> torch.Tensor:
    """Augment a normalised float batch ``[B, C, H, W]`` by policy name (``AUGMENTATIONS``)."""
    if policy == "none":
        return x
    if policy == "flip-shift":
        return augment(x, gen)
    if policy == "flip-rotate":
        return rotate(augment(x, gen, max_shift=0), gen, 10.0)
    if policy == "face":
        return face_augment(x, gen)
    raise ValueError(f"augmentation must be one of {', '.join(AUGMENTATIONS)}; got {policy!r}.")
