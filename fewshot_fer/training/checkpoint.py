"""A run directory's checkpoints: ``best.pt`` and ``last.pt`` at the end of every epoch, and
``last.pt`` read back for ``--resume`` (checked against the run's ``args.yaml`` and ``best.pt``).
Single checkpoint files are written and read by ``fewshot_fer.weights``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..weights import ARCH_KEYS, describe, load_checkpoint, save_checkpoint
from .divergence import check_weights


def save_run_checkpoints(state: dict[str, Any], run_dir: Path, improved: bool) -> None:
    """End of an epoch (or round): ``best.pt`` when validation improved, then ``last.pt``. In this
    order a crash between the two writes leaves ``last.pt`` one epoch behind, and ``--resume``
    replays that epoch and rewrites the same ``best.pt``; the other order would leave a
    ``last.pt`` whose record of the best epoch points to a ``best.pt`` that was never written.
    Weights that are not finite are never written (``divergence.check_weights``)."""
    check_weights(state["model"], f"the end of this epoch of run {run_dir.name}")
    if improved:
        save_checkpoint(state, run_dir / "best.pt")
    save_checkpoint(state, run_dir / "last.pt")


def discard_partial_writes(run_dir: Path) -> list[Path]:
    """Remove the temporary files of checkpoint or table writes cut short by a crash or ``kill -9``
    (``.NAME.XXXX.tmp``, see ``episodes.atomic_open``); the files they were to replace are intact."""
    stale = sorted(run_dir.glob(".*.tmp"))
    for path in stale:
        path.unlink(missing_ok=True)
    return stale


def load_run_checkpoint(run_dir: str | Path, command: str) -> dict[str, Any]:
    """The ``last.pt`` of a run directory made by ``python -m fewshot_fer.<command>``, for
    ``--resume``, with its ``progress`` record (``lifecycle`` describes the layout)."""
    run_dir, last = Path(run_dir), Path(run_dir) / "last.pt"
    if last.exists() and not last.is_file():
        raise ValueError(f"--resume {run_dir}: its last.pt is a folder, not a checkpoint file; restore the run's "
                         f"last.pt to continue it.")
    trained = any((run_dir / name).exists() for name in ("best.pt", "metrics.csv"))
    if not last.exists() and (run_dir / "args.yaml").is_file() and not trained:
        raise FileNotFoundError(f"--resume {run_dir}: the run stopped before its first checkpoint was written, so "
                                f"nothing was trained; start it again with python -m fewshot_fer.{command} "
                                f"--config {run_dir / 'args.yaml'} --name NEW_NAME (same settings, same result).")
    if not last.exists() and trained:
        raise FileNotFoundError(f"--resume {run_dir}: its last.pt is missing (the run trained: it has best.pt or "
                                f"metrics.csv); restore last.pt to continue it, or use best.pt with evaluate or predict.")
    if not last.exists():
        raise FileNotFoundError(f"--resume {run_dir}: no last.pt there; give a run directory made by "
                                f"python -m fewshot_fer.{command}.")
    stale = discard_partial_writes(run_dir)
    if stale:
        print(f"--resume {run_dir}: removed {len(stale)} partial file(s) of a write cut short "
              f"({', '.join(p.name for p in stale[:3])}); the checkpoints they were to replace are intact")
    state = load_checkpoint(run_dir / "last.pt")
    if "progress" not in state or "args" not in state or made_by(state) != command:
        raise ValueError(f"--resume {run_dir}: its last.pt was not written by python -m fewshot_fer.{command}.")
    check_same_run(run_dir, state)
    return state


def made_by(state: dict[str, Any]) -> str:
    """The training command that wrote a run checkpoint: its ``command`` entry, or for checkpoints
    written before it was recorded, read off the shape of its progress record."""
    if "command" in state:
        return state["command"]
    progress = state.get("progress", {})
    return "train" if "done_in_epoch" in progress else "selftrain" if "next_round" in progress else "pretrain"


# settings that make a run what it is: last.pt and args.yaml of one run agree on all of them
RUN_IDENTITY = ("learner", "backbone", "backbone_option", "learner_option", "dataset", "classes", "image_size",
                "channels", "normalization", "way", "shot", "labelled_fraction", "seed")


def check_same_run(run_dir: Path, state: dict[str, Any]) -> None:
    """Refuse a run directory whose ``last.pt`` and ``args.yaml`` (or ``best.pt``) describe
    different runs: resuming would train one model under the other's name."""
    from ..yamlio import read_yaml  # local: checkpoint loading is imported by models, which need no YAML

    args_file = run_dir / "args.yaml"
    if args_file.is_file():
        recorded = read_yaml(args_file, "--resume settings file")
        saved = state["args"]
        differ = [k for k in RUN_IDENTITY if k in recorded and k in saved and recorded[k] != saved[k]]
        if differ:
            raise ValueError(f"--resume {run_dir}: its last.pt and args.yaml come from different runs ("
                             + ", ".join(f"{k}: {saved[k]!r} in last.pt, {recorded[k]!r} in args.yaml" for k in differ)
                             + "); restore the matching files or start a new run.")
    best = run_dir / "best.pt"
    if best.is_file() and "model_config" in state:
        other = load_checkpoint(best).get("model_config", {})
        if any(other.get(k) != state["model_config"].get(k) for k in ARCH_KEYS):
            raise ValueError(f"--resume {run_dir}: its best.pt holds a {describe(other)} model but last.pt a "
                             f"{describe(state['model_config'])} one; restore the matching files or start a new run.")
