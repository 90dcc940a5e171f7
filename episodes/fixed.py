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

MAX_FILE_BYTES = 200_000_000  # 100,000 episodes of 5-way 5-shot 15-query keys fit
MAX_EPISODES = 100_000
MAX_SIZE = 1000  # classes, shots or queries per episode


def excerpt(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, so an error sentence about a huge or deeply
    nested value stays one short line (``fewshot_fer.errors`` re-exports it)."""
    try:
        text = repr(value)
    except RecursionError:
        text = f"<{type(value).__name__} nested too deeply>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


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
        """The episodes saved at ``path``, each key checked (types, sizes within ``MAX_SIZE`` and
        ``MAX_EPISODES``, every episode of ``n_way * (k_shot + n_query)`` item keys), or a
        ``ValueError`` sentence naming the file and the key."""
        path = Path(path)
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ValueError(f"episodes file {path} is larger than {MAX_FILE_BYTES:,} bytes.")
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"episodes file {path} does not exist.") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"episodes file {path} is not valid JSON ({str(err)[:80]}).") from None
        except RecursionError:
            raise ValueError(f"episodes file {path} is nested too deeply to be an episodes file.") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"episodes file {path} is not a fewshot episodes file "
                             f"(expected \"format\": \"{FORMAT}\").")

        def need(ok: bool, key: str, expected: str) -> None:
            if not ok:
                raise ValueError(f"episodes file {path}: key {key} must be {expected}, got {excerpt(doc.get(key))}.")

        for key in ("n_way", "k_shot", "n_query"):
            value = doc.get(key)
            need(type(value) is int and 1 <= value <= MAX_SIZE, key, f"a whole number from 1 to {MAX_SIZE}")
        episodes = doc.get("episodes")
        need(isinstance(episodes, list) and 0 < len(episodes) <= MAX_EPISODES, "episodes",
             f"a list of 1 to {MAX_EPISODES:,} episodes")
        need(isinstance(doc.get("meta", {}), dict), "meta", "an object")
        size = doc["n_way"] * (doc["k_shot"] + doc["n_query"])
        for e, episode in enumerate(episodes):
            if not isinstance(episode, list) or len(episode) != size or not all(isinstance(k, (str, int)) for k in episode):
                raise ValueError(f"episodes file {path}: episode {e} must be a list of n_way * (k_shot + n_query) = "
                                 f"{size} item keys, got {excerpt(episode)}.")
        return cls(doc["n_way"], doc["k_shot"], doc["n_query"], [list(map(str, e)) for e in episodes],
                   dict(doc.get("meta", {})))
