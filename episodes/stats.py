"""Accuracy statistics: mean and 95% confidence interval over episodes (normal), and over a few
values such as one figure per training seed (Student's t)."""

from __future__ import annotations

import math
from typing import Sequence

import torch


def mean_ci95(values: Sequence[float] | torch.Tensor) -> tuple[float, float]:
    """Mean and half-width of the 95% confidence interval, ``1.96 * std / sqrt(N)``.

    ``std`` is the sample standard deviation (N - 1 in the denominator). With fewer than two
    values the interval is undefined and returned as ``nan``.
    """
    v = torch.as_tensor(values, dtype=torch.float64).flatten()
    if len(v) == 0:
        raise ValueError("mean_ci95 needs at least one value, got none.")
    mean = float(v.mean())
    if len(v) < 2:
        return mean, math.nan
    return mean, float(1.96 * v.std(unbiased=True) / math.sqrt(len(v)))


# two-sided 95% quantiles of Student's t by degrees of freedom (1-10); beyond, the normal 1.96 is
# within 5% of the exact value only from 30, so more than 11 seeds use the 10-df quantile (wider)
T95 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)


def mean_ci95_t(values: Sequence[float]) -> tuple[float, float]:
    """Mean and 95% half-width ``t * std / sqrt(n)`` with Student's t at ``n - 1`` degrees of
    freedom, for a few values such as one figure per seed (nan for fewer than two)."""
    if not values:
        raise ValueError("mean_ci95_t needs at least one value, got none.")
    n, mean = len(values), sum(values) / len(values)
    if n < 2:
        return mean, math.nan
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, T95[min(n - 1, len(T95)) - 1] * std / math.sqrt(n)


def cluster_bootstrap_ci95(correct: torch.Tensor, clusters: torch.Tensor, n_boot: int = 2000,
                           seed: int = 0) -> tuple[float, float]:
    """95% percentile interval of an accuracy when the test pool, not the episodes, is the sample.

    ``correct``: ``[n]`` 1/0 (or fractions) for every query of every episode; ``clusters``: ``[n]``
    the unit each query belongs to (the face it shows, or the person). Episodes redraw the same
    few faces again and again, so an interval over episodes shrinks with their number while the
    pool stays as small as it is; resampling the units themselves (with replacement, ``n_boot``
    times, each drawn unit bringing all its queries) gives the spread another pool of the same
    size would give. Returns ``(low, high)``; the point estimate is ``correct.mean()``.
    """
    correct = torch.as_tensor(correct, dtype=torch.float64).flatten()
    clusters = torch.as_tensor(clusters).flatten()
    if len(correct) == 0 or len(correct) != len(clusters):
        raise ValueError(f"cluster_bootstrap_ci95 needs one cluster per value, got {len(correct)} values and "
                         f"{len(clusters)} clusters.")
    ids, inverse = torch.unique(clusters, return_inverse=True)
    k = len(ids)
    sums = torch.zeros(k, dtype=torch.float64).index_add_(0, inverse, correct)
    counts = torch.bincount(inverse, minlength=k).double()
    gen = torch.Generator().manual_seed(seed)
    stats = torch.empty(n_boot, dtype=torch.float64)
    for start in range(0, n_boot, 256):  # bounded memory: 256 draws of k units at a time
        draws = torch.randint(k, (min(256, n_boot - start), k), generator=gen)
        weights = torch.zeros(len(draws), k, dtype=torch.float64).scatter_add_(
            1, draws, torch.ones(draws.shape, dtype=torch.float64))
        stats[start:start + len(draws)] = (weights @ sums) / (weights @ counts)
    low, high = torch.quantile(stats, torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    return low, high


def format_mean_ci(values: Sequence[float] | torch.Tensor, percent: bool = True) -> str:
    """``"71.23 +- 0.85%"`` for accuracies in ``[0, 1]``."""
    mean, ci = mean_ci95(values)
    if percent:
        return f"{100 * mean:.2f} +- {100 * ci:.2f}%"
    return f"{mean:.4f} +- {ci:.4f}"
