"""Test-time views: an image's embedding as the mean of the embeddings of a few copies of it
(its mirror image; copies moved a few pixels towards each corner), a cheap ensemble that smooths
over small misalignments of a face crop."""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

MAX_SHIFT = 16  # pixels of a shifted view


def evaluation_views(x: torch.Tensor, flip: bool, shift: int) -> list[torch.Tensor]:
    """``[B, C, H, W]`` -> the image, its copies moved by ``shift`` pixels towards each corner
    (edges repeated, so every view keeps the size), and, with ``flip``, all their mirror images."""
    views = [x]
    if shift:
        h, w = x.shape[-2:]
        padded = nn.functional.pad(x, (shift, shift, shift, shift), mode="replicate")
        views += [padded[..., i:i + h, j:j + w] for i in (0, 2 * shift) for j in (0, 2 * shift)]
    return views + [v.flip(-1) for v in views] if flip else views


class TestTimeViews:
    """``views(embed, x)``: ``embed`` (``[B, C, H, W]`` -> ``[B, D]``) averaged over the views of
    ``x``; with neither ``flip`` nor ``shift``, just ``embed(x)``."""

    __test__ = False  # not a pytest test class, despite its name

    def __init__(self, flip: bool = False, shift: int = 0) -> None:
        if not (isinstance(shift, int) and 0 <= shift <= MAX_SHIFT):
            raise ValueError(f"shift must be a whole number of pixels from 0 to {MAX_SHIFT}, got {shift!r}.")
        self.flip, self.shift = bool(flip), int(shift)

    def __bool__(self) -> bool:
        return self.flip or self.shift > 0

    def __call__(self, embed: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        if not self:
            return embed(x)
        return torch.stack([embed(v) for v in evaluation_views(x, self.flip, self.shift)]).mean(0)
