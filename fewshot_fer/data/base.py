"""The dataset type every loader returns: decoded uint8 faces with labels, groups and keys."""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch.utils.data import Dataset

from episodes import EpisodeSampler, largest_query


class FaceDataset(Dataset):
    """Decoded faces held as one uint8 tensor, indexable one item or one episode at a time.

    Satisfies ``episodes.IndexedDataset``: labels and groups are known without touching images.

    Args:
        images: ``[n_items, C, H, W]`` uint8.
        labels: ``[n_items]`` class id, an index into ``class_names``.
        class_names: name of each class id.
        keys: a stable string per item (used by fixed episode files).
        groups: ``[n_items]`` identity, subject or clip id, or ``None``.
        name: dataset name, e.g. ``"synthetic-basic"``.
        split: ``"train"``, ``"val"`` or ``"test"``.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, class_names: Sequence[str],
                 keys: Sequence[str], groups: torch.Tensor | None = None, name: str = "",
                 split: str = "") -> None:
        n = len(images)
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(f"images must be uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}.")
        if len(labels) != n or len(keys) != n or (groups is not None and len(groups) != n):
            raise ValueError(f"images ({n}), labels ({len(labels)}), keys ({len(keys)}) and groups "
                             f"({'-' if groups is None else len(groups)}) must have the same length.")
        self.images = images
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.groups = None if groups is None else torch.as_tensor(groups, dtype=torch.long)
        self.class_names = list(class_names)
        self.keys = list(keys)
        self.name, self.split = name, split

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.images[index], int(self.labels[index])

    def __getitems__(self, indices: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Batched fetch used by DataLoader: one gather instead of one call per item."""
        idx = torch.as_tensor(indices, dtype=torch.long)
        return self.images[idx], self.labels[idx]

    @property
    def channels(self) -> int:
        return self.images.shape[1]

    @property
    def image_size(self) -> int:
        return self.images.shape[-1]

    def present_classes(self) -> list[str]:
        """Names of the classes that have at least one item."""
        return [self.class_names[c] for c in torch.unique(self.labels).tolist()]

    def fit_query(self, k_shot: int, n_query: int, role: str = "",
                  log: Callable[[str], None] = print) -> int:
        """``n_query``, lowered (with a note through ``log``) to what the smallest class can fill
        beside ``k_shot`` support faces, each from its own group: the evaluation rule "15 query
        images per class unless a class is too small". Episodes stay balanced."""
        fitted = largest_query(self.labels, k_shot, n_query, self.groups)
        if fitted < n_query:
            what = f"{role} episodes" if role else "episodes"
            unit = "people or clips" if self.groups is not None else "images"
            log(f"note: {what} on {self.name} {self.split} use {fitted} query images per class, not "
                f"{n_query}: its smallest class has {fitted + k_shot} {unit} for {k_shot} support + queries.")
        return fitted

    def episode_sampler(self, n_way: int, k_shot: int, n_query: int, role: str = "", **options) -> EpisodeSampler:
        """An ``EpisodeSampler`` over this dataset's labels and groups (support and query never
        share an identity); an impossible episode size is reported with the dataset and class names.
        ``options``: ``seed``, ``n_episodes``, ``stream``."""
        try:
            return EpisodeSampler(self.labels, n_way, k_shot, n_query, groups=self.groups,
                                  label_names=self.class_names, **options)
        except ValueError as err:
            what = f"{role} episodes" if role else "episodes"
            raise ValueError(f"{what} on {self.name} {self.split}: {err}") from None

    def subset(self, class_names: Sequence[str]) -> "FaceDataset":
        """Only the items of ``class_names`` (ids unchanged)."""
        unknown = [c for c in class_names if c not in self.class_names]
        if unknown:
            raise ValueError(f"classes {unknown} are not in {self.name} (it has {self.class_names}).")
        ids = torch.tensor([self.class_names.index(c) for c in class_names])
        return self.take(torch.isin(self.labels, ids).nonzero().flatten())

    def take(self, indices: torch.Tensor) -> "FaceDataset":
        """Only the items at ``indices`` (1-D long tensor), in that order; ids unchanged."""
        return FaceDataset(self.images[indices], self.labels[indices], self.class_names,
                           [self.keys[i] for i in indices.tolist()],
                           None if self.groups is None else self.groups[indices], self.name, self.split)

    def __repr__(self) -> str:
        groups = "no groups" if self.groups is None else f"{len(torch.unique(self.groups))} groups"
        return (f"{self.name or 'FaceDataset'}[{self.split}]: {len(self)} images "
                f"{tuple(self.images.shape[1:])}, {len(self.present_classes())} classes, {groups}")
