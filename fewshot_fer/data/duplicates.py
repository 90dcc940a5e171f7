"""Exact duplicate faces, found by a hash of their decoded pixels.

FER2013 holds 1,516 groups of byte-identical images; 288 of its test faces are copies of training
faces and 57 groups carry conflicting labels. A copy of a training face among the test queries
measures memory, not recognition: evaluation leaves such faces out by default.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

import torch

from .base import FaceDataset


def content_hashes(images: torch.Tensor) -> list[str]:
    """One hex digest per image of ``images`` uint8 ``[N, C, H, W]`` (equal pixels, equal digest)."""
    flat = images.contiguous().view(len(images), -1).numpy()
    return [hashlib.blake2b(row.tobytes(), digest_size=16).hexdigest() for row in flat]


@dataclass
class DuplicateReport:
    """Groups of items with identical pixels within one dataset split."""

    groups: list[list[int]]  # item indices, each group of two or more
    conflicting: list[list[int]]  # the groups whose items do not all share one label

    @property
    def copies(self) -> int:
        """Items beyond the first of each group: what removing duplicates would drop."""
        return sum(len(g) - 1 for g in self.groups)


def find_duplicates(images: torch.Tensor, labels: torch.Tensor) -> DuplicateReport:
    """Duplicate groups among ``images`` ``[N, C, H, W]`` with ``labels`` ``[N]``."""
    by_hash: dict[str, list[int]] = defaultdict(list)
    for i, digest in enumerate(content_hashes(images)):
        by_hash[digest].append(i)
    groups = [g for g in by_hash.values() if len(g) > 1]
    conflicting = [g for g in groups if len(set(labels[g].tolist())) > 1]
    return DuplicateReport(groups, conflicting)


def drop_copies_of(dataset: FaceDataset, others: list[FaceDataset]) -> tuple[FaceDataset, int]:
    """``dataset`` without the items whose pixels also occur in any of ``others``, and how many
    were left out."""
    seen = {d for other in others for d in content_hashes(other.images)}
    keep = torch.tensor([d not in seen for d in content_hashes(dataset.images)], dtype=torch.bool)
    return dataset.take(keep.nonzero().flatten()), int((~keep).sum())


def leave_out_training_copies(dataset: FaceDataset, load_split: Callable[[str], FaceDataset],
                              splits: tuple[str, ...]) -> tuple[FaceDataset, int, list[str]]:
    """For an evaluation split: leave out faces that are exact copies of faces in the dataset's
    other splits that models may have trained or been selected on (train, and val for test).
    ``load_split(name)`` loads another split of the same dataset (all classes); splits the
    dataset does not have, or that are not on disk (a target-only copy), are skipped. Returns the
    dataset, the count left out and the splits compared against."""
    order = ("train", "val", "test")
    if dataset.split not in order:
        return dataset, 0, []
    earlier = [s for s in order[: order.index(dataset.split)] if s in splits]
    if not earlier:
        return dataset, 0, []
    others = []
    for split in earlier:
        try:
            others.append(load_split(split))
        except FileNotFoundError:
            continue
    if not others:
        return dataset, 0, []
    kept, dropped = drop_copies_of(dataset, others)
    return kept, dropped, [o.split for o in others]
