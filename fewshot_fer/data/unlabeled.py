"""Unlabeled faces for self-training: any folder tree of face images, read recursively.

For example FFHQ thumbnails (nested folders of 1,000 128x128 images). Decoded once into the cache
like every labelled dataset; the items have no labels.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch.utils.data import Dataset

from .cache import load_images
from .images import IMAGE_SUFFIXES, display_path, list_files


class UnlabeledFaces(Dataset):
    """Decoded faces without labels.

    Args:
        images: ``[n_items, C, H, W]`` uint8.
        keys: each item's path relative to the folder that was read.
    """

    def __init__(self, images: torch.Tensor, keys: list[str]) -> None:
        if len(images) != len(keys):
            raise ValueError(f"images ({len(images)}) and keys ({len(keys)}) must have the same length.")
        self.images, self.keys = images, keys

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]

    def __repr__(self) -> str:
        return f"UnlabeledFaces: {len(self)} images {tuple(self.images.shape[1:])}"


def load_unlabeled(root: str | Path, image_size: int = 48, channels: int = 1,
                   cache_dir: str | Path | None = None, strict: bool = False,
                   limit: int | None = None) -> UnlabeledFaces:
    """Every image under ``root`` (sorted paths; the first ``limit`` when given)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"unlabeled image folder {root} does not exist.")
    listing = list_files(root)
    if listing.special:
        warnings.warn(f"unlabeled image folder {display_path(root)}: {listing.note()}", stacklevel=2)
    paths = listing.files
    if limit is not None:
        if limit < 1:
            raise ValueError(f"limit must be positive, got {limit}.")
        paths = paths[:limit]
    if not paths:
        raise FileNotFoundError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found under {root}.")
    images, ok = load_images(paths, image_size, channels, cache_dir, strict, desc="unlabeled faces")
    return UnlabeledFaces(images, [str(paths[i].relative_to(root)) for i in ok.tolist()])
