"""Accuracy statistics over episodes: mean and 95% confidence interval."""

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


def format_mean_ci(values: Sequence[float] | torch.Tensor, percent: bool = True) -> str:
    """``"71.23 +- 0.85%"`` for accuracies in ``[0, 1]``."""
    mean, ci = mean_ci95(values)
    if percent:
        return f"{100 * mean:.2f} +- {100 * ci:.2f}%"
    return f"{mean:.4f} +- {ci:.4f}"
