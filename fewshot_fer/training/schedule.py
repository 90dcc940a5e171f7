"""Per-epoch learning rates, computed from the epoch alone (a resumed run needs no scheduler state)."""

from __future__ import annotations

import argparse
import math

LR_SCHEDULES = ("cosine", "constant", "step:EVERY:FACTOR")
SCHEDULE_HELP = ("per-epoch learning rate: cosine (annealing towards 0 over --epochs), constant, or "
                 "step:EVERY:FACTOR (multiplied by FACTOR every EVERY epochs, e.g. step:40:0.5)")


def parse_step(schedule: str) -> tuple[int, float] | None:
    """``(every, factor)`` of ``step:EVERY:FACTOR``; ``None`` for ``cosine`` and ``constant``.
    Raises ``ValueError`` naming the schedule for anything else."""
    if schedule in ("cosine", "constant"):
        return None
    parts = schedule.split(":")
    try:
        every, factor = int(parts[1]), float(parts[2])
        ok = parts[0] == "step" and len(parts) == 3 and every >= 1 and factor > 0
    except (IndexError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"lr schedule must be one of {', '.join(LR_SCHEDULES)} (EVERY a positive whole number "
                         f"of epochs, FACTOR > 0); got {schedule!r}.")
    return every, factor


def check_schedule(text: str) -> str:
    """argparse type of ``--lr-schedule``: the text itself, once ``parse_step`` accepts it."""
    try:
        parse_step(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return text


def epoch_lr(base_lr: float, epoch: int, epochs: int, schedule: str = "cosine", warmup: int = 0) -> float:
    """Learning rate of (0-based) ``epoch``: a linear warm-up over the first ``warmup`` epochs
    (``base_lr * (epoch + 1) / (warmup + 1)``), then ``constant``, cosine annealing from
    ``base_lr`` towards 0 over the remaining epochs, or ``step:EVERY:FACTOR``
    (``base_lr * FACTOR ** ((epoch - warmup) // EVERY)``)."""
    step = parse_step(schedule)
    if epoch < warmup:
        return base_lr * (epoch + 1) / (warmup + 1)
    if step is not None:
        return base_lr * step[1] ** ((epoch - warmup) // step[0])
    if schedule == "constant":
        return base_lr
    return 0.5 * base_lr * (1 + math.cos(math.pi * (epoch - warmup) / max(epochs - warmup, 1)))
