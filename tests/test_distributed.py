"""Data-parallel training: two gloo processes on the CPU, started by torchrun as a user would."""

import csv
import os
import subprocess
import sys

import pytest
import torch
import yaml

from fewshot_fer.training.distributed import DistContext, average_gradients, weights_fingerprint
from fewshot_fer.training.episode_task import steps_per_epoch
from fewshot_fer.weights import load_checkpoint

FAST = ["--image-size", "24", "--way", "3", "--shot", "2", "--query", "3", "--episodes-per-epoch", "6",
        "--val-episodes", "5", "--seed", "3"]


def torchrun(*args: str, cwd, command: str = "train") -> subprocess.CompletedProcess:
    # torchrun's log folders go under the test's own temporary folder, not the system's.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TMPDIR": str(cwd)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", f"fewshot_fer.{command}", *args]
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


def two_process_run(tmp_path):
    """One epoch of episodic training on two gloo processes; returns the run folder and torchrun's output."""
    out = tmp_path / "runs"
    first = torchrun(*FAST, "--epochs", "1", "--output", str(out), "--name", "ddp", "--device", "cpu",
                     cwd=tmp_path)
    assert [p.name for p in out.iterdir()] == ["ddp"]  # one run directory, made by rank 0
    return out / "ddp", first


def test_two_gloo_processes_train_identical_weights(tmp_path):
    run, first = two_process_run(tmp_path)
    assert "on 2 processes (gloo)" in first.stdout
    assert first.stdout.count("run directory:") == 1  # only rank 0 prints

    report = yaml.safe_load((run / "distributed.yaml").read_text())
    assert report["world_size"] == 2 and report["backend"] == "gloo" and report["identical"]
    ranks = report["fingerprints"]
    assert len(ranks) == 2 and ranks[0] == ranks[1]
    ckpt = load_checkpoint(run / "last.pt")
    assert weights_fingerprint(ckpt["model"]) == ranks[0]  # the checkpoint is the weights every rank holds
    assert ckpt["args"]["world_size"] == 2
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1] and int(rows[0]["episode"]) == 6  # 3 steps x 2 ranks


@pytest.mark.slow  # a second torchrun launch (about 20 s); the resume itself is tested on one process by default
def test_two_gloo_processes_resume_with_identical_weights(tmp_path):
    run, _ = two_process_run(tmp_path)
    torchrun("--resume", str(run), "--epochs", "2", cwd=tmp_path)
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    report = yaml.safe_load((run / "distributed.yaml").read_text())
    assert report["epoch"] == 2 and report["identical"]
    assert weights_fingerprint(load_checkpoint(run / "last.pt")["model"]) == report["fingerprints"][0]
    assert sorted(p.name for p in run.parent.iterdir()) == ["ddp"]


@pytest.mark.slow
def test_pretraining_on_two_gloo_processes_ends_with_identical_weights(tmp_path):
    """Supervised pre-training runs on the same loop: each rank trains its share of the batches of
    one shuffle, gradients are averaged, and both ranks end each epoch with the same weights."""
    out = tmp_path / "runs"
    torchrun("--image-size", "24", "--classes", "anger,happiness", "--batch-size", "32", "--val-way", "3",
             "--val-shot", "2", "--val-query", "3", "--val-episodes", "4", "--epochs", "1", "--device", "cpu",
             "--output", str(out), "--name", "pre", cwd=tmp_path, command="pretrain")
    report = yaml.safe_load((out / "pre" / "distributed.yaml").read_text())
    assert report["world_size"] == 2 and report["identical"] and len(set(report["fingerprints"])) == 1
    assert weights_fingerprint(load_checkpoint(out / "pre" / "last.pt")["model"]) == report["fingerprints"][0]
    rows = list(csv.DictReader(open(out / "pre" / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1]


@pytest.mark.slow
def test_self_training_on_two_gloo_processes_ends_with_identical_weights(tmp_path):
    """``torchrun -m fewshot_fer.selftrain``: every round (and the fresh member) trains on the one
    loop with each rank's share of the batches; rank 0's pseudo-labels reach every rank, so the
    ranks agree after every epoch; rank 0 alone writes the run and scores the test split."""
    out = tmp_path / "runs"
    torchrun("--image-size", "24", "--labelled-fraction", "0.1", "--unlabeled-limit", "120", "--epochs", "1",
             "--round-epochs", "1", "--mc-passes", "2", "--threshold", "0.0", "--backbone-option", "width=0.125",
             "--rounds", "1", "--fresh", "0.5", "--device", "cpu", "--output", str(out), "--name", "self",
             cwd=tmp_path, command="selftrain")
    run = out / "self"
    report = yaml.safe_load((run / "distributed.yaml").read_text())
    assert report["world_size"] == 2 and report["identical"] and len(set(report["fingerprints"])) == 1
    rows = list(csv.DictReader(open(run / "metrics.csv")))
    assert [r["round"] for r in rows] == ["0", "1", "fresh"]
    assert load_checkpoint(run / "last.pt")["args"]["world_size"] == 2
    assert (run / "summary.json").is_file() and (run / "fresh.pt").is_file()


def test_steps_per_epoch_share_the_episodes_between_ranks():
    assert steps_per_epoch(100, 1) == 100
    assert steps_per_epoch(100, 2) == 50
    assert steps_per_epoch(100, 3) == 34  # rounded up: an epoch never trains fewer episodes


def test_single_process_helpers_are_no_ops():
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.tensor([1.0, 2.0, 3.0])
    extra = average_gradients(DistContext(), [p], torch.tensor([0.5, 0.25]))
    assert torch.equal(p.grad, torch.tensor([1.0, 2.0, 3.0])) and torch.equal(extra, torch.tensor([0.5, 0.25]))
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    b.load_state_dict(a.state_dict())
    assert weights_fingerprint(a) == weights_fingerprint(b)
    with torch.no_grad():
        b.bias[0] += 1e-7
    assert weights_fingerprint(a) != weights_fingerprint(b)


@pytest.mark.parametrize("bad", ["mps"])
def test_distributed_refuses_devices_without_a_backend(monkeypatch, bad):
    from fewshot_fer.training.distributed import init_distributed

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ValueError, match="runs on cpu \\(gloo\\) or cuda \\(nccl\\), not mps"):
        init_distributed(torch.device(bad))
