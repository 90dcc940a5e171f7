"""Exception types the command line turns into one sentence (see ``cli.run_cli``)."""

from __future__ import annotations


class MissingExtra(ImportError):
    """An optional dependency (an extra such as ``[video]``) is not installed: a user error whose
    message names the pip command that installs it."""


def excerpt(value: object, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, so an error sentence about a huge or deeply
    nested value stays one short line."""
    try:
        text = repr(value)
    except RecursionError:
        text = f"<{type(value).__name__} nested too deeply>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
