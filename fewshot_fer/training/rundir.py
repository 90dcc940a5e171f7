"""The run directory: settings, environment, metrics table and checkpoints of one training run."""

from __future__ import annotations

import csv
import datetime as _dt
import importlib.metadata
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Sequence

import yaml

from episodes import atomic_open

PACKAGES = ("torch", "torchvision", "timm", "numpy", "fewshot-fer")


def new_run_dir(output: str | Path, name: str | None, parts: Sequence[str]) -> Path:
    """``output/name``, or ``output/<parts>-<timestamp>``; refuses to reuse an existing run."""
    if not name:
        stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        name = "-".join([*parts, stamp])
    run = Path(output) / name
    if run.exists() and any(run.iterdir()):
        raise FileExistsError(f"run directory {run} already exists; continue it with --resume {run} "
                              f"or choose another --name.")
    run.mkdir(parents=True, exist_ok=True)
    return run


def check_writable(path: str | Path, flag: str) -> Path:
    """Refuse an output file that could not be written, before any work is done (a read-only or
    full folder, a folder in its place)."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a folder; give a file name, such as {path / 'predictions.csv'}.")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path.parent):
            pass
    except OSError as err:
        raise ValueError(f"{flag} {path} cannot be written ({err.strerror or err}); choose a folder you can "
                         f"write to.") from None
    return path


def write_yaml(path: str | Path, data: dict[str, Any]) -> None:
    with atomic_open(path) as f:
        yaml.safe_dump(data, f, sort_keys=False)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A run's YAML file (``args.yaml``, ``env.yaml``) through the one YAML boundary (``yamlio``)."""
    from ..yamlio import read_yaml as read_settings

    return read_settings(path, "settings file")


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet runs as a formula


def spreadsheet_safe(value: Any) -> Any:
    """``value``, or a text cell a spreadsheet would run as a formula (``=HYPERLINK(...)``,
    ``@SUM(...)``) with a leading ``'`` so it is shown as text; numbers (``-0.5``) stay as they are."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    try:
        float(value)
        return value
    except ValueError:
        return "'" + value


def write_csv(path: str | Path, rows: Sequence[dict[str, Any]]) -> None:
    """Rewrite the whole table atomically (tables are small; a resumed run rewrites its history).
    Column names and text cells that a spreadsheet would run as formulas are escaped."""
    fields: list[str] = []
    for row in rows:
        fields += [k for k in row if k not in fields]
    with atomic_open(path) as f:
        writer = csv.writer(f)
        writer.writerow([spreadsheet_safe(k) for k in fields])
        writer.writerows([spreadsheet_safe(row.get(k, "")) for k in fields] for row in rows)


def write_metrics(run_dir: Path, rows: Sequence[dict[str, Any]], title: str) -> None:
    """The run's per-epoch table ``metrics.csv`` and its picture ``curves.png`` (loss and accuracy
    per epoch), both rewritten after every epoch (self-training: after every round)."""
    from ..evaluation.plots import training_curves  # Pillow drawing: imported only when a run writes

    write_csv(run_dir / "metrics.csv", rows)
    training_curves(rows, run_dir / "curves.png", title)


def git_commit(cwd: Path | None = None) -> str:
    """The commit of the checkout the code runs from (with ``-dirty`` for local changes), or
    ``unknown`` outside git. Changes under ``benchmarks/results/`` do not count: the benchmark
    harness rewrites its tables there while it trains, which leaves the code as committed."""
    where = cwd or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":(top)",
                                ":(top,exclude)benchmarks/results"], cwd=where,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (commit + ("-dirty" if dirty else "")) if commit else "unknown"


def environment() -> dict[str, Any]:
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return {"git_commit": git_commit(), "python": platform.python_version(),
            "platform": platform.platform(), "packages": versions,
            "started": _dt.datetime.now().isoformat(timespec="seconds")}
