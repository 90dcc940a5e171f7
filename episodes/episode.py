"""The ``Episode`` container and the collate function that builds it from sampled items."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Sequence

import torch


@dataclass
class Episode:
    """One few-shot task.

    Attributes:
        support_x: ``[n_way * k_shot, C, H, W]``, class-major.
        support_y: ``[n_way * k_shot]`` labels remapped to ``0..n_way-1``.
        query_x: ``[n_way * n_query, C, H, W]``, class-major.
        query_y: ``[n_way * n_query]`` labels remapped to ``0..n_way-1``.
        class_ids: ``[n_way]`` original class id of each remapped label.
        indices: ``[n_way * (k_shot + n_query)]`` dataset indices, support then query
            (``None`` when unknown).
    """

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    class_ids: torch.Tensor
    indices: torch.Tensor | None = None

    @property
    def n_way(self) -> int:
        return len(self.class_ids)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Episode":
        """Copy every tensor to ``device``."""
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in moved.items():
            if isinstance(value, torch.Tensor):
                moved[name] = value.to(device, non_blocking=non_blocking)
        return Episode(**moved)


class EpisodeCollate:
    """DataLoader ``collate_fn`` turning the items of one sampled episode into an ``Episode``.

    Expects the item order of ``EpisodeSampler``: support class-major, then query class-major.
    Accepts either a list of ``(x, label)`` pairs (plain ``__getitem__``) or one ``(x, labels)``
    pair of batched tensors (a dataset with ``__getitems__``).
    """

    def __init__(self, n_way: int, k_shot: int, n_query: int) -> None:
        self.n_way, self.k_shot, self.n_query = n_way, k_shot, n_query

    def __call__(self, batch: Any, indices: Sequence[int] | None = None) -> Episode:
        if isinstance(batch, tuple) and len(batch) == 2 and isinstance(batch[0], torch.Tensor):
            x, labels = batch
        else:
            x = torch.stack([torch.as_tensor(item[0]) for item in batch])
            labels = torch.tensor([int(item[1]) for item in batch])
        labels = torch.as_tensor(labels, dtype=torch.long)
        return make_episode(x, labels, self.n_way, self.k_shot, self.n_query, indices)


def make_episode(x: torch.Tensor, labels: torch.Tensor, n_way: int, k_shot: int, n_query: int,
                 indices: Sequence[int] | torch.Tensor | None = None) -> Episode:
    """Split ``x`` ``[n_way * (k_shot + n_query), ...]`` (sampler order) into an ``Episode``."""
    n_support = n_way * k_shot
    expected = n_support + n_way * n_query
    if len(x) != expected or len(labels) != expected:
        raise ValueError(f"an episode of {n_way}-way {k_shot}-shot {n_query}-query needs {expected} "
                         f"items, got {len(x)} images and {len(labels)} labels.")
    class_ids = labels[:n_support:k_shot].clone()
    support_y = torch.arange(n_way).repeat_interleave(k_shot)
    query_y = torch.arange(n_way).repeat_interleave(n_query)
    # The sampler's order makes the remapping positional; check it so a wrong order cannot
    # silently train on wrong labels.
    if not (torch.equal(labels[:n_support], class_ids[support_y])
            and torch.equal(labels[n_support:], class_ids[query_y])):
        raise ValueError("episode items are not in sampler order (support then query, class-major).")
    return Episode(x[:n_support], support_y, x[n_support:], query_y, class_ids,
                   None if indices is None else torch.as_tensor(indices, dtype=torch.long))
