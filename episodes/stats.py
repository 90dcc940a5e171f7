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


def format_mean_ci(values: Sequence[float] | torch.Tensor, percent: bool = True) -> str:
    """``"71.23 +- 0.85%"`` for accuracies in ``[0, 1]``."""
    mean, ci = mean_ci95(values)
    if percent:
        return f"{100 * mean:.2f} +- {100 * ci:.2f}%"
    return f"{mean:.4f} +- {ci:.4f}"
