"""Duplicate faces: exact ones, found by a hash of their decoded pixels, and near ones (the same
photo re-encoded, shifted or made brighter), found by a perceptual hash (``near_duplicates.py``).

FER2013 holds 1,516 groups of byte-identical images; 288 of its test faces are copies of training
faces and 57 groups carry conflicting labels. A copy of a training face among the test queries
measures memory, not recognition, and two copies of one face inside a test split can be the support
and the query of one episode: evaluation leaves such faces out by default (``leave_out_copies``).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from typing import Callable

import torch

from .base import FaceDataset
from .near_duplicates import near_copies_within, nearest_distances, perceptual_hashes


def content_hashes(images: torch.Tensor) -> list[str]:
    """One hex digest per image of ``images`` uint8 ``[N, C, H, W]`` (equal pixels, equal digest)."""
    if len(images) == 0:
        return []
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


KEPT_COMPARISONS = 8  # comparisons remembered in a process (a harness scores every row on the same splits)
_compared: dict[tuple, tuple[torch.Tensor, torch.Tensor]] = {}


def copies_of(dataset: FaceDataset, others: list[FaceDataset], threshold: int | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """``([N] exact, [N] near)`` bools: items of ``dataset`` whose pixels occur in ``others``, and
    (with a ``threshold``) the other items whose perceptual hash is within ``threshold`` bits of one
    of theirs. The same comparison asked again in a process (same pixels) is answered from memory:
    comparing a test split with 30,000 training faces takes seconds, and a benchmark asks it for
    every row."""
    mine, theirs = content_hashes(dataset.images), [content_hashes(o.images) for o in others]
    key = (together(mine), tuple(together(h) for h in theirs), threshold)
    if key not in _compared:
        seen = {d for hashes in theirs for d in hashes}
        exact = torch.tensor([d in seen for d in mine], dtype=torch.bool)
        near = torch.zeros_like(exact)
        if threshold is not None and others and len(dataset):
            pool = torch.cat([perceptual_hashes(o.images) for o in others])
            near = (nearest_distances(perceptual_hashes(dataset.images), pool)[0] <= threshold) & ~exact
        if len(_compared) >= KEPT_COMPARISONS:
            _compared.pop(next(iter(_compared)))
        _compared[key] = (exact, near)
    exact, near = _compared[key]
    return exact.clone(), near.clone()


def together(digests: list[str]) -> str:
    """One digest of a whole list of item digests (order included)."""
    return hashlib.blake2b("".join(digests).encode(), digest_size=16).hexdigest()


def drop_copies_of(dataset: FaceDataset, others: list[FaceDataset], threshold: int | None = None
                   ) -> tuple[FaceDataset, int]:
    """``dataset`` without the items that copy (exactly, or within ``threshold`` bits) items of
    ``others``, and how many were left out."""
    exact, near = copies_of(dataset, others, threshold)
    keep = ~(exact | near)
    return dataset.take(keep.nonzero().flatten()), int((~keep).sum())


def copies_within(dataset: FaceDataset, threshold: int | None = None) -> torch.Tensor:
    """``[N]`` bool: items that copy an earlier item of the same ``dataset`` (exactly, or within
    ``threshold`` bits); the first of each group is not marked. Where the dataset knows its people
    (or clips), only copies across two of them count: episodes keep each person's faces on one side
    (support or query), so copies within one person never meet in an episode, while a person's
    burst of near-identical frames (CK+ sequences) stays whole."""
    groups = dataset.groups
    first: dict[str, int] = {}
    marked = torch.zeros(len(dataset), dtype=torch.bool)
    for i, digest in enumerate(content_hashes(dataset.images)):
        j = first.setdefault(digest, i)
        marked[i] = j != i and (groups is None or bool(groups[i] != groups[j]))
    if threshold is not None and len(dataset):
        marked |= near_copies_within(perceptual_hashes(dataset.images), threshold, groups)
    return marked


@dataclass
class CopiesLeftOut:
    """An evaluation split without its copies: ``exact`` and ``near`` (within ``threshold`` bits)
    copies of faces in the ``compared`` splits, and ``within``, copies of another face of the split
    itself (its first face kept). ``threshold`` is ``None`` where near copies are not looked for."""

    kept: FaceDataset
    exact: int
    near: int
    within: int
    compared: list[str]
    threshold: int | None

    @property
    def left_out(self) -> int:
        return self.exact + self.near + self.within

    def summary(self) -> dict[str, object]:
        return {"exact_copies_of_other_splits": self.exact, "near_copies_of_other_splits": self.near,
                "copies_within_the_split": self.within, "near_threshold_bits": self.threshold}


def leave_out_copies(dataset: FaceDataset, load_split: Callable[[str], FaceDataset], splits: tuple[str, ...],
                     threshold: int | None, within: bool = True) -> CopiesLeftOut:
    """For an evaluation split: leave out faces that copy faces of the dataset's other splits that
    models may have trained or been selected on (train, and val for test), exactly or within
    ``threshold`` bits of perceptual hash (``None``: exact copies only), then the copies of another
    face of the split itself. ``load_split(name)`` loads another split of the same dataset (all
    classes); splits the dataset does not have, or that are not on disk (a target-only copy), are
    skipped. ``within=False`` keeps copies inside the split (the policy of results from before
    near copies were looked for)."""
    order = ("train", "val", "test")
    earlier = [s for s in order[: order.index(dataset.split)] if s in splits] if dataset.split in order else []
    others = []
    for split in earlier:
        try:
            others.append(load_split(split))
        except FileNotFoundError:
            continue
    exact, near = copies_of(dataset, others, threshold)
    rest = dataset.take((~(exact | near)).nonzero().flatten())
    inside = copies_within(rest, threshold) if within else torch.zeros(len(rest), dtype=torch.bool)
    kept = rest.take((~inside).nonzero().flatten())
    return CopiesLeftOut(kept, int(exact.sum()), int(near.sum()), int(inside.sum()), [o.split for o in others],
                         threshold)
