"""Signals at chosen points of a tiny training run, then ``--resume``, compared bit for bit.

``python -m benchmarks.faults.interrupt POINT N SIGNAL -- <train flags>`` runs
``python -m fewshot_fer.train`` in this process and sends itself ``SIGNAL`` at the ``N``-th
arrival at ``POINT``:

- ``episode``: inside a training episode, after its forward pass, before its optimiser step;
- ``validation``: inside the end-of-epoch validation;
- ``checkpoint``: halfway through writing a checkpoint file (half its bytes are on disk).

``interruption_outcome`` runs that as a child process, resumes the run, and compares the final
``last.pt`` (weights, batch-norm buffers, per-epoch metrics) with an uninterrupted run.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Sequence

POINTS = ("episode", "validation", "checkpoint")
SIGNALS = ("SIGINT", "SIGTERM", "SIGKILL")
ROOT = Path(__file__).resolve().parents[2]


def arm(point: str, n: int, signum: int) -> None:
    """Patch the training code so that the ``n``-th arrival at ``point`` sends ``signum``."""
    import torch

    from fewshot_fer import weights
    from fewshot_fer.training import episode_task, trainer

    arrivals = [0]

    def arrive() -> None:
        arrivals[0] += 1
        if arrivals[0] == n:
            os.kill(os.getpid(), signum)

    def arriving(fn):  # ``fn`` that first counts an arrival
        def wrapper(*args, **kwargs):
            arrive()
            return fn(*args, **kwargs)
        return wrapper

    if point == "episode":
        trainer.average_gradients = arriving(trainer.average_gradients)
    elif point == "validation":
        episode_task.episode_accuracies = arriving(episode_task.episode_accuracies)
    elif point == "checkpoint":
        save = torch.save

        def save_in_two_halves(obj, f, *args, **kwargs):
            buffer = io.BytesIO()
            save(obj, buffer, *args, **kwargs)
            data = buffer.getvalue()
            f.write(data[: len(data) // 2])
            f.flush()
            arrive()
            f.write(data[len(data) // 2:])
        weights.torch.save = save_in_two_halves
    else:
        raise ValueError(f"point must be one of {', '.join(POINTS)}, got {point!r}.")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    point, n, name, rest = argv[0], int(argv[1]), argv[2], argv[argv.index("--") + 1:]
    arm(point, n, getattr(signal, name))
    import torch

    torch.set_num_threads(int(os.environ.get("FEWSHOT_FER_FAULT_THREADS", torch.get_num_threads())))
    from fewshot_fer.commands import train
    from fewshot_fer.commands.cli import run_cli

    run_cli(lambda: train.main(rest))  # as the command line: one line and exit 130 on a signal
    return 0


def interruption_outcome(point: str, n: int, signal_name: str, train_flags: list[str], work: Path,
                         reference: Path) -> tuple[bool, str]:
    """Interrupt a run at ``point`` (``n``-th arrival) with ``signal_name``, resume it in this
    process and compare with the uninterrupted ``reference`` run directory. Returns (identical,
    what happened)."""
    import torch

    from fewshot_fer.commands import train
    from fewshot_fer.weights import load_checkpoint

    run = work / f"cut-{point}-{n}-{signal_name}"
    # the same number of threads as this process, which resumes: float sums differ between thread counts
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "FEWSHOT_FER_FAULT_THREADS": str(torch.get_num_threads())}
    child = subprocess.run([sys.executable, "-m", "benchmarks.faults.interrupt", point, str(n), signal_name, "--",
                            *train_flags, "--output", str(work), "--name", run.name],
                           cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    if "Traceback" in child.stderr:
        return False, f"the interrupted run printed a traceback: {child.stderr.strip().splitlines()[-1]}"
    killed = child.returncode in (-signal.SIGKILL, 130, -signal.SIGINT, -signal.SIGTERM)
    if not killed and child.returncode != 0:
        return False, f"the interrupted run exited with {child.returncode}: {child.stderr.strip()[-300:]}"
    partial = len(list(run.glob(".*.tmp")))
    if train.main(["--resume", str(run)]) != 0:
        return False, "--resume failed"
    if list(run.glob(".*.tmp")):
        return False, "partial files were left in the run directory after --resume"
    a, b = load_checkpoint(reference / "last.pt"), load_checkpoint(run / "last.pt")
    differ = [k for k, v in a["model"].items() if k not in b["model"] or not torch.equal(v, b["model"][k])]
    if differ:
        return False, f"weights or buffers differ from the uninterrupted run: {differ[:3]}"
    metrics = ("epoch", "train_loss", "train_acc", "val_acc")
    if [[r[m] for m in metrics] for r in a["progress"]["history"]] != \
            [[r[m] for m in metrics] for r in b["progress"]["history"]]:
        return False, "per-epoch metrics differ from the uninterrupted run"
    best_a, best_b = load_checkpoint(reference / "best.pt"), load_checkpoint(run / "best.pt")
    if any(not torch.equal(v, best_b["model"][k]) for k, v in best_a["model"].items()):
        return False, "best.pt differs from the uninterrupted run's"
    how = f"exit {child.returncode}" + (f", {partial} partial file(s) removed by --resume" if partial else "")
    return True, f"stopped ({how}); resumed to identical weights, buffers, metrics and best.pt"


if __name__ == "__main__":
    sys.exit(main())
