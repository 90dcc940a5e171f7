"""Reusing a row's test score when nothing that decides it has changed.

Scoring every row again on each run of the harness costs as much as the evaluation of every model
on every protocol (about 15 minutes for the five FER2013 tables on two threads), though a row's
figures depend only on: the checkpoint files, the evaluation settings, the fixed episodes, the code
that scores (``fewshot_fer`` and ``episodes``), torch and the thread count (some sums, e.g.
MTCNN's, differ in the last digit with it). ``score_key`` fingerprints all of them; a result folder
whose ``score-key.json`` holds the same key keeps its ``summary.json`` and ``episodes.csv``, and
the row names the commit that scored it. Code with uncommitted changes has no fingerprint, so
nothing is reused then. The data folders are assumed unchanged: the episodes name the faces, not
their pixels.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any, Sequence

import torch

import fewshot_fer
from episodes import atomic_open

KEY_FILE = "score-key.json"
CODE = ("fewshot_fer", "episodes")  # the packages whose code decides a score


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def code_fingerprint(root: Path | None = None) -> str | None:
    """Git tree ids of ``CODE`` at HEAD of the checkout ``root`` (default: the one the running
    ``fewshot_fer`` comes from), when none of ``CODE`` has uncommitted changes; else None."""
    root = root or Path(fewshot_fer.__file__).resolve().parent.parent
    try:
        run = lambda *a: subprocess.run(["git", *a], cwd=root, capture_output=True, text=True, timeout=10,  # noqa: E731
                                        check=True).stdout
        if run("status", "--porcelain", "--", *CODE).strip():
            return None
        return " ".join(run("rev-parse", *(f"HEAD:{c}" for c in CODE)).split())
    except (OSError, subprocess.SubprocessError):
        return None


def score_key(checkpoints: Sequence[Path], settings: dict[str, Any], episodes_file: Path) -> dict[str, Any] | None:
    """Everything a score depends on, or None when the code has no fingerprint."""
    code = code_fingerprint()
    if code is None:
        return None
    return {"code": code, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "checkpoints": [file_sha256(Path(p)) for p in checkpoints],
            "settings": {k: v for k, v in sorted(settings.items()) if k != "output"},
            "episodes": file_sha256(episodes_file) if episodes_file.is_file() else None}


def cached_summary(result_dir: Path, key: dict[str, Any] | None) -> tuple[dict[str, Any], str] | None:
    """The summary and scoring commit kept in ``result_dir`` under the same ``key``, or None."""
    record, summary = result_dir / KEY_FILE, result_dir / "summary.json"
    if key is None or key["episodes"] is None or not (record.is_file() and summary.is_file()
                                                      and (result_dir / "episodes.csv").is_file()):
        return None
    saved = json.loads(record.read_text())
    if saved.get("key") != key:
        return None
    return json.loads(summary.read_text()), saved["commit"]


def remember(result_dir: Path, key: dict[str, Any] | None, commit: str, episodes_file: Path) -> None:
    """Keep ``key`` beside the new score; the first scoring of a protocol writes its episodes file,
    whose fingerprint joins the key then."""
    if key is not None:
        if key["episodes"] is None:
            key = {**key, "episodes": file_sha256(episodes_file)}
        with atomic_open(result_dir / KEY_FILE) as f:
            json.dump({"key": key, "commit": commit}, f, indent=1)
