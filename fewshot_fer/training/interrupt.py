"""Stopping a training run between two steps, never inside one.

A Ctrl-C (SIGINT) or ``kill`` (SIGTERM) that lands inside an episode would otherwise leave that
episode half done: its forward pass has already moved the batch-norm statistics, so a checkpoint
saved there and resumed would run the episode's forward pass twice. ``DeferredStop`` turns the
first signal into a request that the trainer honours at the next step boundary (``check``), where
the checkpoint is consistent; a second signal stops at once.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any


class StopRequested(KeyboardInterrupt):
    """Raised by ``DeferredStop.check`` at a step boundary: the state is consistent there."""


class DeferredStop:
    """Context manager that defers SIGINT and SIGTERM to ``check()`` (main thread only; elsewhere,
    and when ``enabled`` is false, signals keep their usual effect)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "DeferredStop":
        if self.enabled:
            self._previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is not None:  # asked twice: stop now, wherever we are
            raise KeyboardInterrupt
        self.requested = signum

    def check(self) -> None:
        """Raise ``StopRequested`` if a signal arrived since the last step boundary."""
        if self.requested is not None:
            raise StopRequested(signal.Signals(self.requested).name)
