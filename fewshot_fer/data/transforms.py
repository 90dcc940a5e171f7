"""Batched tensor transforms applied in the hot loop (images are decoded once, up front)."""

from __future__ import annotations

import io
from typing import Sequence

import numpy as np
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


def gaussian_blur(v: torch.Tensor, sigma: torch.Tensor, radius: int = 2) -> torch.Tensor:
    """Blur each image of ``v`` ``[B, C, H, W]`` with its own Gaussian of ``sigma`` ``[B]`` pixels
    (separable, ``2 * radius + 1`` taps, edges replicated); a kernel's taps sum to 1."""
    b, c, h, w = v.shape
    taps = torch.arange(-radius, radius + 1, dtype=v.dtype, device=v.device)
    kernel = torch.exp(-taps.view(1, -1) ** 2 / (2 * sigma.to(v).view(-1, 1).clamp(min=1e-3) ** 2))
    kernel = (kernel / kernel.sum(1, keepdim=True)).repeat_interleave(c, 0)  # [B * C, taps]
    flat = torch.nn.functional.pad(v.reshape(1, b * c, h, w), (radius,) * 4, mode="replicate")
    flat = torch.nn.functional.conv2d(flat, kernel.view(b * c, 1, 1, -1), groups=b * c)
    flat = torch.nn.functional.conv2d(flat, kernel.view(b * c, 1, -1, 1), groups=b * c)
    return flat.view(b, c, h, w)


def jpeg(v: torch.Tensor, quality: int) -> torch.Tensor:
    """One image ``[C, H, W]`` in 0..1 encoded as a JPEG of ``quality`` and decoded again."""
    from PIL import Image

    pixels = (v.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    image = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        out = torch.from_numpy(np.array(decoded.convert(image.mode))).to(v)  # a writable copy (no torch warning)
    return (out.unsqueeze(-1) if out.dim() == 2 else out).permute(2, 0, 1) / 255


def photo_augment(x: torch.Tensor, gen: torch.Generator, mean: float | Sequence[float] = 0.5,
                  std: float | Sequence[float] = 0.5, p: float = 0.3) -> torch.Tensor:
    """The ``photo`` policy: training faces that look like other people's photos. The ``face``
    policy's geometry with a wider random resized crop around the face (zoom 0.7-1), then on pixel
    values (``x`` is normalised with ``mean`` and ``std``): gamma 0.7-1.4, contrast 0.6-1.4 and
    brightness +-0.1, and each with probability ``p`` a Gaussian blur (sigma 0.3-1.2 px), sensor
    noise (sigma up to 0.04) and a JPEG round trip (quality 30-90); last, a colour face is turned
    grey as a grey photo is (ITU-R 601 luma) with probability ``p`` too."""
    b, c = x.shape[:2]
    u = lambda *shape: torch.rand(*shape, generator=gen)  # noqa: E731
    x = face_augment(x, gen, min_scale=0.7, max_shift=0.08, jitter=0.0, erase_p=0.1)
    m = torch.as_tensor(mean, dtype=x.dtype).reshape(1, -1, 1, 1).to(x.device)
    s = torch.as_tensor(std, dtype=x.dtype).reshape(1, -1, 1, 1).to(x.device)
    v = (x * s + m).clamp(0, 1)
    gamma = torch.exp((u(b) * 2 - 1) * 0.35).view(b, 1, 1, 1).to(v)
    v = v.clamp(min=1e-6) ** gamma
    level = v.mean(dim=(1, 2, 3), keepdim=True)
    v = (v - level) * (0.6 + 0.8 * u(b)).view(b, 1, 1, 1).to(v) + level + ((u(b) * 2 - 1) * 0.1).view(b, 1, 1, 1).to(v)
    blur, sigma = u(b) < p, 0.3 + 0.9 * u(b)
    v = torch.where(blur.view(b, 1, 1, 1).to(v.device), gaussian_blur(v, sigma), v)
    noisy, level = u(b) < p, 0.04 * u(b)
    noise = torch.randn(v.shape, generator=gen).to(v) * level.view(b, 1, 1, 1).to(v)
    v = torch.where(noisy.view(b, 1, 1, 1).to(v.device), v + noise, v).clamp(0, 1)
    compressed, quality = (u(b) < p).tolist(), (30 + 61 * u(b)).long().clamp(max=90).tolist()
    v = torch.stack([jpeg(img, q) if on else img for img, on, q in zip(v, compressed, quality)])
    if c == 3:  # last, as inference converts a camera's photo
        grey = (v * torch.tensor([0.299, 0.587, 0.114]).to(v).view(1, 3, 1, 1)).sum(1, keepdim=True).expand_as(v)
        v = torch.where((u(b) < p).view(b, 1, 1, 1).to(v.device), grey, v)
    return (v - m) / s


AUGMENTATIONS = ("none", "flip-shift", "flip-rotate", "face", "photo")
AUGMENTATION_HELP = ("training augmentation: none; flip-shift (flip + shift of up to 2 px, the episodic default); "
                     "flip-rotate (flip + rotation of up to 10 degrees, the self-training study's); face (flip, "
                     "rotation, zoomed and shifted crop, brightness/contrast, random erasing); photo (face's geometry "
                     "with a wider crop, then gamma, contrast, blur, noise, JPEG and grey conversion: faces that look "
                     "like other cameras')")


def apply_augmentation(x: torch.Tensor, gen: torch.Generator, policy: str, mean: float | Sequence[float] = 0.5,
                       std: float | Sequence[float] = 0.5) -> torch.Tensor:
    """Augment a normalised float batch ``[B, C, H, W]`` by policy name (``AUGMENTATIONS``); ``mean``
    and ``std``: its normalisation (the ``photo`` policy works on pixel values)."""
    if policy == "none":
        return x
    if policy == "flip-shift":
        return augment(x, gen)
    if policy == "flip-rotate":
        return rotate(augment(x, gen, max_shift=0), gen, 10.0)
    if policy == "face":
        return face_augment(x, gen)
    if policy == "photo":
        return photo_augment(x, gen, mean, std)
    raise ValueError(f"augmentation must be one of {', '.join(AUGMENTATIONS)}; got {policy!r}.")
