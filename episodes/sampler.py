"""Seeded episodic sampling: which items make up the support and query sets of each episode.

Episode ``i`` of a sampler is drawn from its own ``torch.Generator`` seeded from ``(seed, i)``.
The same seed therefore gives the same episodes on every machine, with any number of DataLoader
workers (the sampler runs in the main process), and training can resume at any episode without
replaying the ones before it.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch

_MASK64 = (1 << 64) - 1


def episode_seed(seed: int, index: int, stream: int = 0) -> int:
    """Mix ``(seed, stream, index)`` into one 63-bit seed (splitmix64 finaliser).

    ``stream`` separates independent sequences built on the same seed, for example one per
    distributed rank.
    """
    z = (seed * 0x9E3779B97F4A7C15 + stream * 0xBF58476D1CE4E5B9 + index + 1) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) & ((1 << 63) - 1)


def largest_query(labels: Sequence[int] | torch.Tensor, k_shot: int, n_query: int,
                  groups: Sequence[int] | torch.Tensor | None = None) -> int:
    """``n_query``, or the largest smaller query count that every class can fill beside its
    ``k_shot`` support items (counting distinct groups when ``groups`` are given), so that a
    small class lowers the query size instead of stopping an evaluation ("15 queries per class
    unless a class is too small"). When even one query does not fit, ``n_query`` is returned
    unchanged and ``EpisodeSampler`` reports the class.

    >>> largest_query([0] * 30 + [1] * 17, k_shot=5, n_query=15)
    12
    """
    labels = torch.as_tensor(labels, dtype=torch.long)
    if groups is None:
        capacity = torch.bincount(labels)
    else:
        pairs = torch.unique(torch.stack([labels, torch.as_tensor(groups, dtype=torch.long)]), dim=1)
        capacity = torch.bincount(pairs[0])
    room = int(capacity[capacity > 0].min()) - int(k_shot)
    return int(n_query) if room < 1 else min(int(n_query), room)


class EpisodeSampler:
    """Yields the item indices of ``n_episodes`` episodes, usable as a DataLoader ``batch_sampler``.

    Each yielded list has ``n_way * (k_shot + n_query)`` indices: first the support items, class
    by class (``k_shot`` each), then the query items, class by class (``n_query`` each). Classes
    are drawn at random per episode, in random order.

    With ``groups`` (identity, subject or clip id per item), every item of an episode comes from
    a different group within its class, and no group gives items to both the support and the
    query set, so a model can never match a query face to the same person in the support set.

    Args:
        labels: class id per item, ``[n_items]``.
        n_way: classes per episode.
        k_shot: support items per class.
        n_query: query items per class.
        groups: optional group id per item, ``[n_items]``.
        seed: base seed of the episode stream.
        n_episodes: episodes per pass (``len(sampler)``).
        stream: independent stream id on the same seed (e.g. the distributed rank).
        label_names: optional name of each class id, used in error messages only.

    Raises:
        ValueError: before any sampling, for non-positive sizes, ``n_way`` above the number of
            classes, or a class with fewer items (or groups) than ``k_shot + n_query``.
    """

    max_attempts = 20

    def __init__(
        self,
        labels: Sequence[int] | torch.Tensor,
        n_way: int,
        k_shot: int,
        n_query: int,
        groups: Sequence[int] | torch.Tensor | None = None,
        seed: int = 0,
        n_episodes: int = 100,
        stream: int = 0,
        label_names: Sequence[str] | None = None,
    ) -> None:
        for name, value in (("n_way", n_way), ("k_shot", k_shot), ("n_query", n_query),
                            ("n_episodes", n_episodes)):
            if int(value) <= 0:
                raise ValueError(f"{name} must be a positive integer, got {value}.")
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        if self.labels.ndim != 1 or len(self.labels) == 0:
            raise ValueError(f"labels must be a non-empty 1-D sequence, got shape {tuple(self.labels.shape)}.")
        self.n_way, self.k_shot, self.n_query = int(n_way), int(k_shot), int(n_query)
        self.seed, self.n_episodes, self.stream = int(seed), int(n_episodes), int(stream)
        self.label_names = list(label_names) if label_names is not None else None
        self.epoch, self.skip = 0, 0

        self.classes = torch.unique(self.labels)
        if self.n_way > len(self.classes):
            raise ValueError(
                f"n_way={self.n_way} is larger than the number of classes in the data "
                f"({len(self.classes)}: {', '.join(self._describe(c) for c in self.classes.tolist())}).")
        per_class = self.k_shot + self.n_query
        self._items = {int(c): torch.nonzero(self.labels == c).flatten() for c in self.classes}

        self.groups = None
        if groups is not None:
            self.groups = torch.as_tensor(groups, dtype=torch.long)
            if self.groups.shape != self.labels.shape:
                raise ValueError(f"groups has shape {tuple(self.groups.shape)} but labels has "
                                 f"shape {tuple(self.labels.shape)}; give one group id per item.")
            # For each class: its distinct groups, and for each group the items of that class.
            self._group_items: dict[int, list[torch.Tensor]] = {}
            self._group_ids: dict[int, torch.Tensor] = {}
            for c, items in self._items.items():
                g = self.groups[items]
                ids, inverse = torch.unique(g, return_inverse=True)
                order = torch.argsort(inverse, stable=True)
                counts = torch.bincount(inverse, minlength=len(ids)).tolist()
                self._group_ids[c] = ids
                self._group_items[c] = list(torch.split(items[order], counts))

        for c, items in self._items.items():
            if len(items) < per_class:
                raise ValueError(
                    f"class {self._describe(c)} has {len(items)} items, fewer than k_shot + n_query = "
                    f"{self.k_shot} + {self.n_query} = {per_class}.")
            if self.groups is not None and len(self._group_ids[c]) < per_class:
                raise ValueError(
                    f"class {self._describe(c)} has items from only {len(self._group_ids[c])} groups, fewer than "
                    f"k_shot + n_query = {self.k_shot} + {self.n_query} = {per_class}; support and "
                    f"query items must come from distinct groups.")

    def _describe(self, c: int) -> str:
        """``3`` or, with label names, ``3 (fear)``."""
        if self.label_names is None or not 0 <= c < len(self.label_names):
            return str(c)
        return f"{c} ({self.label_names[c]})"

    def __len__(self) -> int:
        return self.n_episodes - self.skip

    def set_epoch(self, epoch: int, skip: int = 0) -> None:
        """Make the next pass yield episodes ``epoch * n_episodes + skip`` up to
        ``(epoch + 1) * n_episodes - 1`` (``skip`` resumes inside an epoch)."""
        if not 0 <= skip <= self.n_episodes:
            raise ValueError(f"skip must be in 0..{self.n_episodes}, got {skip}.")
        self.epoch, self.skip = int(epoch), int(skip)

    def __iter__(self) -> Iterator[list[int]]:
        start = self.epoch * self.n_episodes
        for i in range(start + self.skip, start + self.n_episodes):
            yield self.episode(i)

    def episode(self, index: int) -> list[int]:
        """Item indices of episode ``index``: support (class-major), then query (class-major)."""
        gen = torch.Generator().manual_seed(episode_seed(self.seed, index, self.stream))
        for _ in range(self.max_attempts):
            picked = self.classes[torch.randperm(len(self.classes), generator=gen)[: self.n_way]]
            drawn = self._draw(picked.tolist(), gen)
            if drawn is not None:
                support, query = drawn
                return support + query
        raise ValueError(
            f"could not draw episode {index} with disjoint support and query groups after "
            f"{self.max_attempts} attempts: too few groups shared across classes for "
            f"{self.n_way}-way {self.k_shot}-shot {self.n_query}-query.")

    def _draw(self, classes: list[int], gen: torch.Generator) -> tuple[list[int], list[int]] | None:
        support: list[int] = []
        query: list[int] = []
        if self.groups is None:
            for c in classes:
                items = self._items[c]
                chosen = items[torch.randperm(len(items), generator=gen)[: self.k_shot + self.n_query]]
                support += chosen[: self.k_shot].tolist()
                query += chosen[self.k_shot:].tolist()
            return support, query

        support_groups: set[int] = set()
        query_groups: set[int] = set()
        for c in classes:
            ids = self._group_ids[c]
            order = torch.randperm(len(ids), generator=gen).tolist()
            s_pos = [p for p in order if int(ids[p]) not in query_groups][: self.k_shot]
            taken = set(s_pos)
            q_pos = [p for p in order if p not in taken and int(ids[p]) not in support_groups]
            q_pos = q_pos[: self.n_query]
            if len(s_pos) < self.k_shot or len(q_pos) < self.n_query:
                return None
            for positions, out, used in ((s_pos, support, support_groups), (q_pos, query, query_groups)):
                for p in positions:
                    members = self._group_items[c][p]
                    pick = torch.randint(len(members), (1,), generator=gen).item()
                    out.append(int(members[pick]))
                    used.add(int(ids[p]))
        return support, query
