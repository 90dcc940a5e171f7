"""Behaviour preserved across refactors: the training commands, run as a user runs them (one
thread), end with the same weights (bit for bit) and the same ``metrics.csv`` as when the
fingerprints in ``tests/data/fingerprints.json`` were recorded.

Floating-point results depend on the PyTorch build and the CPU's vector instructions, so a
fingerprint is compared only on the software and hardware it was recorded on (the test says so
when it skips). Record them again only for a change that is meant to alter training, and say so
in the commit: ``python tests/test_behaviour_fingerprints.py --record``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

RECORD = Path(__file__).parent / "data" / "fingerprints.json"
ROOT = Path(__file__).resolve().parents[1]

# name -> (command, flags, marked slow); every run is on the built-in synthetic faces. The default
# suite checks the short episodic run; `pytest -m slow` all of them (each resume test also checks
# its loop bit for bit against an uninterrupted run).
RUNS = {
    "train-default": ("train", ["--way", "3", "--shot", "5"], True),
    "train-short": ("train", ["--way", "3", "--shot", "5", "--epochs", "2", "--episodes-per-epoch", "15",
                              "--val-episodes", "20"], False),
    "pretrain-short": ("pretrain", ["--epochs", "2", "--val-episodes", "20", "--batch-size", "32"], True),
    "selftrain-short": ("selftrain", ["--backbone", "conv4", "--epochs", "1", "--rounds", "1", "--round-epochs", "1",
                                      "--mc-passes", "2", "--threshold", "0.5"], True),
    "selftrain-rounds": ("selftrain", ["--backbone", "conv4", "--image-size", "32", "--epochs", "1", "--rounds", "2",
                                       "--round-epochs", "1", "--mc-passes", "2", "--threshold", "0.3",
                                       "--labelled-fraction", "0.3", "--unlabeled-limit", "600", "--fresh", "0.5"],
                         True),
}
TIMING_COLUMNS = {"episodes_per_s", "faces_per_s", "seconds", "time"}
# tensors renamed since the recording (same values, a new place in the module tree): current -> recorded
RENAMED = {"norm.centring.mean": "norm.mean"}


def platform_key() -> str:
    """What bit-identical results depend on: the PyTorch build and the CPU's vector instructions."""
    return f"torch {torch.__version__}, cpu {torch.backends.cpu.get_cpu_capability()}"


def weights_digest(path: Path) -> str:
    """SHA-256 over the names, shapes, dtypes and bytes of a checkpoint's ``model`` tensors."""
    state = torch.load(path, map_location="cpu", weights_only=False)["model"]
    state = {RENAMED.get(name, name): tensor for name, tensor in state.items()}
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().contiguous().cpu()
        digest.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def metrics_digest(path: Path) -> str:
    """SHA-256 of ``metrics.csv`` without its timing columns (they differ between any two runs)."""
    rows = list(csv.DictReader(path.open(newline="")))
    kept = [c for c in rows[0] if c not in TIMING_COLUMNS]
    out = io.StringIO()
    writer = csv.DictWriter(out, kept, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return hashlib.sha256(out.getvalue().encode()).hexdigest()


def fingerprint(name: str, output: Path) -> dict[str, str]:
    command, flags, _ = RUNS[name]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", f"fewshot_fer.{command}", *flags, "--device", "cpu",
                           "--output", str(output), "--name", name], cwd=output, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-2000:]
    run_dir = output / name
    return {"best.pt": weights_digest(run_dir / "best.pt"), "last.pt": weights_digest(run_dir / "last.pt"),
            "metrics.csv": metrics_digest(run_dir / "metrics.csv")}


def recorded(name: str) -> dict[str, str]:
    record = json.loads(RECORD.read_text())
    if record["platform"] != platform_key():
        pytest.skip(f"fingerprints were recorded with {record['platform']}; this is {platform_key()}, whose "
                    f"floating-point results may differ in the last bits")
    return record["runs"][name]


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if slow else n
                                  for n, (_, _, slow) in RUNS.items()])
def test_training_unchanged(name, tmp_path):
    expected = recorded(name)
    assert fingerprint(name, tmp_path) == expected


if __name__ == "__main__" and sys.argv[1:2] == ["--record"]:
    import tempfile

    # --record [NAME ...]: record these runs (default: all), keeping the others' fingerprints
    names = sys.argv[2:] or list(RUNS)
    record = json.loads(RECORD.read_text()) if RECORD.exists() else {"platform": platform_key(), "runs": {}}
    if record["platform"] != platform_key():
        record = {"platform": platform_key(), "runs": {}}
    for run_name in names:
        with tempfile.TemporaryDirectory() as where:
            record["runs"][run_name] = fingerprint(run_name, Path(where))
            print(run_name, record["runs"][run_name], flush=True)
    RECORD.parent.mkdir(exist_ok=True)
    RECORD.write_text(json.dumps(record, indent=1) + "\n")
