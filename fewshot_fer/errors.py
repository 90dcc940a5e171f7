"""Exception types the command line turns into one sentence (see ``cli.run_cli``)."""

from __future__ import annotations

from episodes.fixed import excerpt  # noqa: F401  (one excerpt for error sentences, shared with episodes)


class MissingExtra(ImportError):
    """An optional dependency (an extra such as ``[video]``) is not installed: a user error whose
    message names the pip command that installs it."""

