"""Whether a harness training run directory can be reused as it is (finished) or resumed (stopped):
only if it was trained with the very settings wanted now and, for a fine-tune, from the very
checkpoint it names now (its SHA-256, kept by ``run_records.AttemptClock``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from fewshot_fer.commands import train

from .run_records import ATTEMPTS
from .score_cache import file_sha256


def differing_settings(run_dir: Path, settings: dict[str, Any], command: Any = train) -> list[str]:
    """The settings that ``run_dir`` (its ``args.yaml``) was trained with otherwise than ``settings``
    (compared as the command reads them), as ``name: saved vs wanted`` strings."""
    wanted = command.RECIPE.build((f"{run_dir.name}", settings)).settings()
    saved = yaml.safe_load((run_dir / "args.yaml").read_text())
    return [f"{k}: {saved.get(k)} vs {wanted[k]}" for k in sorted(settings) if str(saved.get(k)) != str(wanted[k])]


def starting_weights(settings: dict[str, Any]) -> str | None:
    """SHA-256 of the checkpoint a fine-tune starts from (``pretrained``); None for other runs."""
    return file_sha256(Path(settings["pretrained"])) if settings.get("pretrained") else None


def started_elsewhere(record: dict[str, Any], start: str | None) -> bool:
    """Whether a run's ``record`` (an attempt or ``harness.json``) started from other weights than
    ``start`` (``starting_weights`` now: its model was trained again since); records written before
    the fingerprint was kept are taken as they are."""
    return "pretrained_sha256" in record and record["pretrained_sha256"] != start


def check_reusable(run_dir: Path, settings: dict[str, Any], command: Any = train, start: str | None = None) -> None:
    """A finished run is reused only if it was trained with these very settings and, for a
    fine-tune, from the very checkpoint its ``pretrained`` names now (``start``, its fingerprint)."""
    differ = differing_settings(run_dir, settings, command)
    if differ:
        raise ValueError(f"{run_dir} was trained with other settings ({', '.join(differ)}); "
                         f"remove or rename it to train again.")
    if started_elsewhere(json.loads((run_dir / "harness.json").read_text()), start):
        raise ValueError(f"{run_dir} was fine-tuned from another {settings['pretrained']} than the one there now "
                         f"(that model was trained again since); remove or rename {run_dir} to fine-tune again.")


def interrupted_attempts(run_dir: Path, settings: dict[str, Any], command: Any,
                         start: str | None = None) -> list[dict[str, Any]] | None:
    """The recorded attempts of an unfinished harness run in ``run_dir`` that can be resumed: one
    the harness was timing (``ATTEMPTS``), with a ``last.pt``, these very settings and the same
    starting checkpoint (fingerprint ``start``); else None."""
    if not all((run_dir / f).is_file() for f in (ATTEMPTS, "last.pt", "args.yaml")):
        return None
    if differing_settings(run_dir, settings, command):
        return None
    attempts = json.loads((run_dir / ATTEMPTS).read_text())["attempts"]
    return None if started_elsewhere(attempts[-1], start) else attempts
