"""The benchmark harness across runs of its command: a stopped training resumes with its time
added up, and a score is kept while nothing that decides it changed."""

import csv
import json

import pytest
import torch
from test_benchmark_harness import TINY_TRAIN, rewrite_config, synthetic_config

from benchmarks import run as harness


def stop_after_the_first_call(monkeypatch, owner, name, note):
    """Patch ``owner.name`` (a function that saves progress) so every call runs it and appends
    ``note(*args)`` to the returned list, and the first then raises ``KeyboardInterrupt``: a
    session stopped right after saving."""
    original, notes = getattr(owner, name), []

    def saved_then_stopped(*args, **kwargs):
        result = original(*args, **kwargs)
        notes.append(note(*args))
        if len(notes) == 1:
            raise KeyboardInterrupt
        return result

    monkeypatch.setattr(owner, name, saved_then_stopped)
    return notes


@pytest.mark.slow
def test_an_interrupted_training_resumes_and_its_time_adds_up(tmp_path, monkeypatch):
    """A harness run killed inside a training (a session that stops) leaves the run directory and
    its timed attempts; the next harness run resumes the training from last.pt instead of starting
    again, and harness.json sums the CPU minutes of both attempts."""
    from fewshot_fer.training import trainer
    from fewshot_fer.weights import load_checkpoint

    config = synthetic_config(tmp_path, "tiny-syn", learners=[],
                              models=[{"name": "pre", "pretrain": ["--epochs", "2", "--patience", "0"]}])
    calls = stop_after_the_first_call(monkeypatch, trainer, "save_run_checkpoints",
                                      lambda state, run_dir, improved: state["progress"]["epoch"])
    with pytest.raises(KeyboardInterrupt):
        harness.main(["--config", config])
    run_dir = tmp_path / "runs" / "tiny-syn-pre"
    assert not (run_dir / "harness.json").exists()
    first = json.loads((run_dir / harness.ATTEMPTS).read_text())["attempts"]
    assert len(first) == 1 and first[0]["cpu_minutes"] > 0
    # killed between writing last.pt and metrics.csv: the checkpoint's own record has epoch 1
    epoch_one = load_checkpoint(run_dir / "last.pt")["progress"]["history"]
    assert [r["epoch"] for r in epoch_one] == [1]

    assert harness.main(["--config", config]) == 0
    assert calls == [1, 2]  # epoch 1 was not trained again
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    assert [r["epoch"] for r in rows] == ["1", "2"]
    assert float(rows[0]["train_loss"]) == pytest.approx(epoch_one[0]["train_loss"])
    record = json.loads((run_dir / "harness.json").read_text())
    assert record["attempts"] == 2 and record["cpu_minutes"] > first[0]["cpu_minutes"]
    assert harness.trained_on(run_dir) == first[0]["commit"]  # both attempts ran this code
    record["commits"] = [first[0]["commit"], "f00dfeed00"]  # a resume under other code names both
    (run_dir / "harness.json").write_text(json.dumps(record))
    assert harness.trained_on(run_dir) == f"{first[0]['commit']} f00dfeed00"
    assert not (run_dir / harness.ATTEMPTS).exists()
    table = list(csv.DictReader(open(tmp_path / "results" / "tiny-syn.csv")))
    assert float(table[-1]["cpu_minutes"]) == pytest.approx(record["cpu_minutes"], abs=0.05)

    # an interrupted run whose settings changed since cannot go on: it trains again from the start
    (run_dir / "harness.json").unlink()
    (run_dir / harness.ATTEMPTS).write_text(json.dumps({"attempts": first}))
    rewrite_config(config, models=[{"name": "pre", "pretrain": ["--epochs", "1", "--patience", "0", "--lr", "0.002"]}])
    assert harness.main(["--config", config]) == 0
    assert json.loads((run_dir / "harness.json").read_text())["attempts"] == 1
    assert [r["epoch"] for r in csv.DictReader(open(run_dir / "metrics.csv"))] == ["1"]


@pytest.mark.slow
def test_a_score_is_kept_only_while_checkpoints_episodes_and_code_are_unchanged(tmp_path, monkeypatch):
    from benchmarks import score_cache, tables

    config = synthetic_config(tmp_path, "tiny-keep")
    real, calls = harness.api.evaluate, []
    monkeypatch.setattr(harness.api, "evaluate", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    monkeypatch.setattr(score_cache, "code_fingerprint", lambda: "tree-A")
    assert harness.main(["--config", config]) == 0
    assert len(calls) == 4  # the untrained floor and protonet, each on test and on validation (its deciding figure)
    first = list(csv.DictReader(open(tmp_path / "results" / "tiny-keep.csv")))
    result = tmp_path / "runs" / "test-tiny-keep" / "protonet"
    assert json.loads((result / score_cache.KEY_FILE).read_text())["key"]["code"] == "tree-A"

    assert harness.main(["--config", config]) == 0  # nothing changed: every score kept
    assert len(calls) == 4
    again = list(csv.DictReader(open(tmp_path / "results" / "tiny-keep.csv")))
    assert [(r["accuracy"], r["paired_diff"], r["scored_on"]) for r in again] == [
        (r["accuracy"], r["paired_diff"], r["scored_on"]) for r in first]

    monkeypatch.setattr(score_cache, "code_fingerprint", lambda: "tree-B")  # other scoring code: score again
    assert harness.main(["--config", config]) == 0
    assert len(calls) == 8
    checkpoint = tmp_path / "runs" / "tiny-keep-protonet" / "best.pt"  # another checkpoint: score that row again
    torch.save({**torch.load(checkpoint, weights_only=True), "note": "changed"}, checkpoint)
    assert harness.main(["--config", config]) == 0
    assert calls[8:] == [checkpoint, checkpoint]  # its test and validation scores
    monkeypatch.setattr(score_cache, "code_fingerprint", lambda: None)  # uncommitted code: never kept
    assert harness.main(["--config", config]) == 0
    assert len(calls) == 14

    rows = [{"scored_on": "abcdef1234567"}, {"scored_on": "0123456789ab"}]
    assert tables.scored_on(rows[:1], {"_commit": "abcdef1234567"}) == "every row was scored on abcdef1234"
    assert tables.scored_on(rows, {"_commit": "abcdef1234567"}) == (
        "rows were scored on abcdef1234 or, kept because their checkpoints, episodes and scoring code are "
        "unchanged, on 0123456789")


def test_the_code_fingerprint_is_the_git_trees_of_the_scoring_packages(tmp_path):
    import subprocess

    from benchmarks.score_cache import code_fingerprint

    assert code_fingerprint(tmp_path) is None  # not a git checkout
    git = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True, text=True).stdout  # noqa: E731
    git("init", "-q")
    for package in ("fewshot_fer", "episodes"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text(f"# {package}\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "code")
    trees = git("rev-parse", "HEAD:fewshot_fer", "HEAD:episodes").split()
    assert code_fingerprint(tmp_path) == " ".join(trees)
    (tmp_path / "README.md").write_text("docs change nothing\n")
    assert code_fingerprint(tmp_path) == " ".join(trees)
    (tmp_path / "episodes" / "__init__.py").write_text("# changed\n")
    assert code_fingerprint(tmp_path) is None  # uncommitted code


@pytest.mark.slow
def test_an_interrupted_episodic_training_resumes_where_it_stopped(tmp_path, monkeypatch):
    from fewshot_fer.training.trainer import EpisodicTrainer as Trainer

    config = synthetic_config(tmp_path, "tiny-epi", train={**TINY_TRAIN, "epochs": 2, "patience": 0})
    ends = stop_after_the_first_call(monkeypatch, Trainer, "_end_epoch", lambda trainer: trainer.state.epoch)
    with pytest.raises(KeyboardInterrupt):
        harness.main(["--config", config])
    assert harness.main(["--config", config]) == 0
    assert len(ends) == 2  # one epoch in each attempt
    run_dir = tmp_path / "runs" / "tiny-epi-protonet"
    assert [r["epoch"] for r in csv.DictReader(open(run_dir / "metrics.csv"))] == ["1", "2"]
    assert json.loads((run_dir / "harness.json").read_text())["attempts"] == 2


@pytest.mark.slow
def test_an_interrupted_self_training_resumes_at_its_next_round(tmp_path, monkeypatch):
    """A selftrain row stopped after its supervised round 0 (round0.pt and last.pt written) goes on
    at round 1 when the harness runs again; round 0 is not trained twice."""
    from fewshot_fer.training import self_trainer

    config = synthetic_config(tmp_path, "tiny-self", learners=[], models=[{"name": "st", "selftrain": [
        "--epochs", "1", "--round-epochs", "1", "--rounds", "1", "--labelled-fraction", "0.5",
        "--unlabeled-limit", "50", "--threshold", "0.0", "--backbone-option", "width=0.125", "--image-size", "24"]}])
    saved = stop_after_the_first_call(monkeypatch, self_trainer, "save_run_checkpoints",
                                      lambda state, run_dir, improved: state["progress"]["next_round"])
    with pytest.raises(KeyboardInterrupt):
        harness.main(["--config", config])
    run_dir = tmp_path / "runs" / "tiny-self-st"
    assert (run_dir / "round0.pt").is_file() and not (run_dir / "harness.json").exists()
    assert harness.main(["--config", config]) == 0
    assert saved == [1, 2]  # round 0 in the first attempt, round 1 in the second
    assert [int(r["round"]) for r in csv.DictReader(open(run_dir / "metrics.csv"))] == [0, 1]
    assert json.loads((run_dir / "harness.json").read_text())["attempts"] == 2
    rows = list(csv.DictReader(open(tmp_path / "results" / "tiny-self.csv")))
    assert rows[-1]["model"] == "st" and 0 <= float(rows[-1]["accuracy"]) <= 1


@pytest.mark.slow
def test_a_fine_tune_whose_starting_model_was_trained_again_is_not_reused(tmp_path, monkeypatch):
    """A fine-tune records the SHA-256 of the checkpoint it started from; when that checkpoint
    changes, a stopped fine-tune starts over and a finished one is refused with a message."""
    from benchmarks.score_cache import file_sha256
    from fewshot_fer.training.trainer import EpisodicTrainer as Trainer

    config = synthetic_config(tmp_path, "tiny-from", learners=[], train={**TINY_TRAIN, "epochs": 2, "patience": 0},
                              models=[{"name": "pre", "pretrain": ["--epochs", "1", "--val-episodes", "3"]},
                                      {"name": "fine", "learner": "protonet", "from": "pre"}])
    ends = stop_after_the_first_call(monkeypatch, Trainer, "_end_epoch", lambda trainer: trainer.state.epoch)
    with pytest.raises(KeyboardInterrupt):
        harness.main(["--config", config])
    parent, fine = tmp_path / "runs" / "tiny-from-pre" / "best.pt", tmp_path / "runs" / "tiny-from-fine"
    torch.save({**torch.load(parent, weights_only=True), "note": "trained again"}, parent)
    assert harness.main(["--config", config]) == 0
    assert ends == [1, 1, 2]  # the stopped fine-tune was not resumed: it trained both epochs again
    record = json.loads((fine / "harness.json").read_text())
    assert record["attempts"] == 1 and record["pretrained_sha256"] == file_sha256(parent)

    assert harness.main(["--config", config]) == 0  # unchanged: reused
    assert ends == [1, 1, 2]
    torch.save({**torch.load(parent, weights_only=True), "note": "trained a third time"}, parent)
    with pytest.raises(ValueError, match=r"tiny-from-fine was fine-tuned from another .*tiny-from-pre/best.pt than "
                                         r"the one there now \(that model was trained again since\); remove or "
                                         r"rename .*tiny-from-fine to fine-tune again"):
        harness.main(["--config", config])
