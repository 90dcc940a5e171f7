"""The indexed-dataset protocol that every sampler and loader in the toolkit agrees on."""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import torch


@runtime_checkable
class IndexedDataset(Protocol):
    """A dataset whose labels (and optional groups) are known without loading any image.

    ``labels``: ``[n_items]`` int class id per item. ``groups``: ``[n_items]`` int identity,
    subject or clip id per item, or ``None`` when the source has none. ``keys``: a stable string
    per item (a relative file name, say), used by fixed episode files.
    """

    labels: torch.Tensor
    groups: torch.Tensor | None
    keys: Sequence[str]

    def __len__(self) -> int: ...

    def __getitem__(self, index: int): ...
