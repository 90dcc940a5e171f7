"""Stop a run whose training diverged, before it writes a checkpoint of it.

A learning rate far too high (``--lr 1e30``) makes the loss, then the weights, infinite or NaN;
carrying on would save NaN weights as ``best.pt``. Every training loop checks its loss at each
step (``check_loss``) and every checkpoint write checks the weights (``check_weights``): the run
stops with one sentence, and ``last.pt``/``best.pt`` keep the last finite weights.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import torch


class Diverged(ValueError):
    """Training produced a non-finite loss or weights (a user error: usually the learning rate)."""


def check_loss(loss: float, where: str) -> None:
    """Raise ``Diverged`` naming ``where`` (``epoch 3, episode 17``) when ``loss`` is NaN or infinite."""
    if not math.isfinite(loss):
        raise Diverged(f"loss became {'NaN' if math.isnan(loss) else loss} at {where}; lower --lr (the run stopped; "
                       f"its checkpoints keep the last finite weights).")


def check_weights(state: Mapping[str, Any], where: str) -> None:
    """Raise ``Diverged`` when a floating-point tensor of the state dict ``state`` is not finite."""
    bad = [name for name, value in state.items()
           if isinstance(value, torch.Tensor) and value.is_floating_point() and not bool(torch.isfinite(value).all())]
    if bad:
        raise Diverged(f"weights became NaN or infinite by {where} (first: {bad[0]}); lower --lr (the run stopped "
                       f"before writing them; its checkpoints keep the last finite weights).")
