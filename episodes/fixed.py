"""Fixed evaluation episodes saved as a small JSON file of item keys, so that every model in a
comparison is scored on exactly the same tasks."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from .atomic import atomic_open
from .sampler import EpisodeSampler

FORMAT = "fewshot-episodes/1"


@dataclass
class FixedEpisodes:
    """A list of episodes, each a list of item keys in sampler order (support, then query).

    ``meta`` records how they were drawn (dataset, split, classes, seed) so a mismatching reuse
    can be refused.
    """

    n_way: int
    k_shot: int
    n_query: int
    episodes: list[list[str]]
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.episodes)

    @classmethod
    def sample(cls, sampler: EpisodeSampler, keys: Sequence[str], n_episodes: int | None = None,
               meta: dict[str, Any] | None = None) -> "FixedEpisodes":
        """Draw episodes ``0..n_episodes-1`` of ``sampler``; ``keys[i]`` names item ``i``."""
        n = sampler.n_episodes if n_episodes is None else n_episodes
        episodes = [[str(keys[i]) for i in sampler.episode(e)] for e in range(n)]
        info = {"seed": sampler.seed, "grouped": sampler.groups is not None, **(meta or {})}
        return cls(sampler.n_way, sampler.k_shot, sampler.n_query, episodes, info)

    def indices(self, keys: Sequence[str]) -> list[list[int]]:
        """Map each episode's keys back to indices of a dataset whose item keys are ``keys``."""
        position = {str(k): i for i, k in enumerate(keys)}
        out = []
        for e, episode in enumerate(self.episodes):
            try:
                out.append([position[k] for k in episode])
            except KeyError as err:
                raise ValueError(f"fixed episode {e} names item {err.args[0]!r}, which the dataset "
                                 f"does not contain; the episodes were made for another dataset "
                                 f"or split ({self.meta}).") from None
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Write the episodes as JSON, atomically (temporary file, then rename)."""
        doc = {"format": FORMAT, "n_way": self.n_way, "k_shot": self.k_shot,
               "n_query": self.n_query, "meta": self.meta, "episodes": self.episodes}
        with atomic_open(path) as f:
            json.dump(doc, f, separators=(",", ":"))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FixedEpisodes":
        path = Path(path)
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError:
            raise ValueError(f"episodes file {path} does not exist.") from None
        except json.JSONDecodeError as err:
            raise ValueError(f"episodes file {path} is not valid JSON ({err}).") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"episodes file {path} is not a fewshot episodes file "
                             f"(expected \"format\": \"{FORMAT}\").")
        fixed = cls(int(doc["n_way"]), int(doc["k_shot"]), int(doc["n_query"]),
                    [list(map(str, e)) for e in doc["episodes"]], dict(doc.get("meta", {})))
        size = fixed.n_way * (fixed.k_shot + fixed.n_query)
        for e, episode in enumerate(fixed.episodes):
            if len(episode) != size:
                raise ValueError(f"episodes file {path}: episode {e} has {len(episode)} items, "
                                 f"expected n_way * (k_shot + n_query) = {size}.")
        return fixed
