"""Generic episodic machinery for few-shot learning: seeded samplers, episodes, fixed episode
files and confidence intervals. Depends on torch only; knows nothing about faces."""

from .atomic import atomic_open
from .episode import Episode, EpisodeCollate, make_episode
from .fixed import FixedEpisodes
from .protocol import IndexedDataset
from .sampler import EpisodeSampler, episode_seed, largest_query
from .stats import cluster_bootstrap_ci95, format_mean_ci, mean_ci95, mean_ci95_t

__all__ = ["Episode", "atomic_open", "EpisodeCollate", "EpisodeSampler", "FixedEpisodes", "IndexedDataset",
           "episode_seed", "format_mean_ci", "largest_query", "make_episode", "mean_ci95", "mean_ci95_t",
           "cluster_bootstrap_ci95"]
