"""The benchmark runner's seeds (subfolders and a t interval over them), the easyfsl peer as a row,
and the test ledger (written by the harness, and recovered from git for the scorings before it)."""

import csv

import numpy as np
import pytest
import torch
from test_benchmark_harness import TINY_TRAIN, rewrite_config, synthetic_config, tiny, write_config

from benchmarks import run as harness


@pytest.mark.slow
def test_seeds_train_every_row_per_seed_in_subfolders_and_the_table_gives_the_t_interval(tmp_path):
    from episodes import mean_ci95_t

    config = synthetic_config(tmp_path, "tiny-seeds", seeds=[0, 3])
    assert harness.main(["--config", config]) == 0
    per_seed = {s: list(csv.DictReader(open(tmp_path / "results" / "tiny-seeds" / f"seed{s}" / "tiny-seeds.csv")))
                for s in (0, 3)}
    assert all([r["model"] for r in rows] == ["untrained conv4", "protonet"] for rows in per_seed.values())
    assert (tmp_path / "runs" / "seed3" / "tiny-seeds-protonet" / "best.pt").is_file()
    assert load_seed(tmp_path / "runs" / "seed3" / "tiny-seeds-protonet") == 3  # the training seed is the row's
    summary = list(csv.DictReader(open(tmp_path / "results" / "tiny-seeds.csv")))
    for i, row in enumerate(summary):
        figures = [float(per_seed[s][i]["accuracy"]) for s in (0, 3)]
        mean, half = mean_ci95_t(figures)
        assert float(row["accuracy"]) == pytest.approx(mean) and float(row["ci95"]) == pytest.approx(half)
        assert row["per_seed"] == " ".join(f"{f:.4f}" for f in figures) and row["seeds"] == "2"
    # the floor's paired difference: the mean over seeds of each seed's own
    diffs = [float(per_seed[s][0]["paired_diff"]) for s in (0, 3)]
    assert float(summary[0]["paired_diff"]) == pytest.approx(sum(diffs) / 2)
    table = (tmp_path / "results" / "tiny-seeds.md").read_text()
    assert "over training seeds 0, 3" in table and "| protonet | episodic | conv4 |" in table
    assert not (tmp_path / "results" / "tiny-seeds" / "seed0" / "README.md").exists()
    assert "tiny-seeds | protonet" in (tmp_path / "results" / "README.md").read_text()
    # a costly row at one seed only: in seed 0's table, averaged over that one seed, with no interval
    rewrite_config(config, learners=[], models=[{"name": "protonet", "learner": "protonet", "backbone": "conv4"},
                                                {"name": "maml", "learner": "maml", "seeds": [0]}])
    assert harness.main(["--config", config]) == 0
    summary = {r["model"]: r for r in csv.DictReader(open(tmp_path / "results" / "tiny-seeds.csv"))}
    assert summary["maml"]["seeds"] == "1" and summary["maml"]["ci95"] in ("", "nan")
    assert "maml" not in (tmp_path / "results" / "tiny-seeds" / "seed3" / "tiny-seeds.csv").read_text()
    rewrite_config(config, seeds=[1, 1])
    with pytest.raises(ValueError, match=r"seeds must be a list of distinct whole numbers 0 or more, e\.g\. "
                                         r"\[0, 1, 2\]; got \[1, 1\]"):
        harness.main(["--config", config])


def load_seed(run_dir):
    return torch.load(run_dir / "last.pt", weights_only=False)["args"]["seed"]


def test_the_easyfsl_peer_is_a_row_trained_its_own_way_and_scored_on_the_same_episodes(tmp_path):
    pytest.importorskip("easyfsl", reason="the peer needs easyfsl: pip install -e '.[bench]'")
    from PIL import Image

    rng = np.random.default_rng(0)
    root = tmp_path / "fer2013"
    n = 0
    for prefix, folder in (("Training", "train"), ("PublicTest", "validation"), ("PrivateTest", "test")):
        for c, name in enumerate(("angry", "happy", "disgust", "fear")):
            for k in range(4):
                face = np.clip(rng.normal(60 * c, 20, (48, 48)), 0, 255).astype(np.uint8)
                (root / folder / name).mkdir(parents=True, exist_ok=True)
                Image.fromarray(face).save(root / folder / name / f"{prefix}_{n}.jpg")
                n += 1
    protocol = tiny("tiny-duel", {"dataset": "fer2013", "classes": ["anger", "happiness"]},
                    {"dataset": "fer2013", "split": "val", "classes": ["disgust", "fear"]},
                    {"dataset": "fer2013", "split": "test", "classes": ["disgust", "fear"]}, True)
    config = write_config(tmp_path, [protocol], {"fer2013": str(root)})
    rewrite_config(config, models=[{"name": "easyfsl", "peer": "easyfsl"}],
                   train={**TINY_TRAIN, "image_size": 48, "epochs": 2})
    assert harness.main(["--config", config]) == 0
    rows = {r["model"]: r for r in csv.DictReader(open(tmp_path / "results" / "tiny-duel.csv"))}
    assert list(rows) == ["untrained conv4", "easyfsl", "protonet"]
    peer = rows["easyfsl"]
    # the config's episodic budget: 2 epochs x 3 episodes of 2 classes x (1 support + 1 query) faces
    assert peer["faces_seen"] == "24" and peer["episodes"] == rows["protonet"]["episodes"] == "6"
    assert peer["stages"] == "easyfsl 1.5 PrototypicalNetworks, 6 episodes, final model"
    mine, theirs = (torch.tensor([float(a["accuracy"]) for a in csv.DictReader(open(
        tmp_path / "runs" / "test-tiny-duel" / name / "episodes.csv"))]) for name in ("easyfsl", "protonet"))
    assert float(peer["paired_diff"]) == pytest.approx(float((mine - theirs).mean()))
    assert float(peer["accuracy"]) == pytest.approx(float(mine.mean()))
    stamp = (tmp_path / "runs" / "tiny-duel-easyfsl" / "peer.pt").stat().st_mtime_ns
    assert harness.main(["--config", config]) == 0  # the finished peer is reused
    assert (tmp_path / "runs" / "tiny-duel-easyfsl" / "peer.pt").stat().st_mtime_ns == stamp
    rewrite_config(config, models=[{"name": "easyfsl", "peer": "torchmeta"}])
    with pytest.raises(ValueError, match="peer must be one of easyfsl, got 'torchmeta'"):
        harness.main(["--config", config])


def test_every_test_scoring_is_a_ledger_line_and_the_table_counts_them(tmp_path, monkeypatch):
    from benchmarks import score_cache

    monkeypatch.setattr(score_cache, "code_fingerprint", lambda: "tree-A")  # committed scoring code, also when edited
    config = synthetic_config(tmp_path, "tiny-ledger")
    assert harness.main(["--config", config]) == 0
    ledger = tmp_path / "results" / "test-ledger.csv"
    lines = list(csv.DictReader(open(ledger)))
    assert [(r["protocol"], r["split"], r["row"]) for r in lines] == [("tiny-ledger", "test", "untrained conv4"),
                                                                      ("tiny-ledger", "test", "protonet")]
    table = list(csv.DictReader(open(tmp_path / "results" / "tiny-ledger.csv")))
    assert [float(r["accuracy"]) for r in lines] == pytest.approx([float(r["accuracy"]) for r in table], abs=1e-6)
    assert all(r["commit"] and r["date"].endswith("Z") and r["config"] == config for r in lines)
    assert "Test scorings of this protocol so far: 2 " in (tmp_path / "results" / "tiny-ledger.md").read_text()
    assert harness.main(["--config", config]) == 0  # scores kept from the first run: no new look at test
    assert len(list(csv.DictReader(open(ledger)))) == 2
    rewrite_config(config, learners=[], models=[{"name": "protonet", "learner": "protonet", "backbone": "conv4"},
                                                {"name": "protonet flip", "of": "protonet",
                                                 "eval": {"learner_option": ["flip=true"]}}])
    assert harness.main(["--config", config]) == 0
    assert [r["row"] for r in csv.DictReader(open(ledger))][2:] == ["protonet flip"]
    assert "Test scorings of this protocol so far: 3 " in (tmp_path / "results" / "tiny-ledger.md").read_text()


def test_scorings_from_before_the_ledger_are_recovered_from_git_history(tmp_path, monkeypatch):
    import subprocess

    from benchmarks.ledger_history import RECOVERED
    from benchmarks.ledger_history import main as recover

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    monkeypatch.chdir(tmp_path)
    (tmp_path / "benchmarks" / "protocols").mkdir(parents=True)
    (tmp_path / "benchmarks" / "protocols" / "p.yaml").write_text("target: {dataset: fer2013, split: test}\n")
    (tmp_path / "benchmarks" / "protocols" / "v.yaml").write_text("target: {dataset: fer2013, split: val}\n")
    table = tmp_path / "benchmarks" / "results" / "p.csv"
    table.parent.mkdir()
    git("init", "-q")
    header = "protocol,model,accuracy,ci95,episodes,commit,scored_on\n"
    for text in (header + "p,a,0.5,0.01,10,c1,c1\nv,x,0.9,0.01,10,c1,c1\n",   # a scored; v is a val protocol
                 header + "p,a,0.5,0.01,10,c1,c1\np,b,0.6,0.01,10,c2,c2\n",   # a kept, b new
                 header + "p,a,0.55,0.01,10,c1,c3\np,b,0.6,0.01,10,c2,c2\n"):  # a scored again
        table.write_text(text)
        git("add", "-A")
        git("commit", "-q", "-m", "table")
    assert recover([]) == 0
    lines = list(csv.DictReader(open(tmp_path / "benchmarks" / "results" / "test-ledger.csv")))
    assert [(r["protocol"], r["row"], r["commit"], r["accuracy"]) for r in lines] == [
        ("p", "a", "c1", "0.500000"), ("p", "b", "c2", "0.600000"), ("p", "a", "c3", "0.550000")]
    assert all(r["config"] == RECOVERED + "benchmarks/results/p.csv" for r in lines)
    assert recover([]) == 0  # run again: the recovered lines are replaced, not doubled
    assert len(list(csv.DictReader(open(tmp_path / "benchmarks" / "results" / "test-ledger.csv")))) == 3


def test_the_development_half_of_a_test_set_is_no_test_scoring_and_the_report_half_is(tmp_path):
    from benchmarks.ledger import entries, ledger_line, record_scoring

    score = {"accuracy": 0.5, "ci95": 0.01, "episodes": 10}
    for half in ("dev", "report", None):
        target = {"dataset": "folder", "split": "all", **({"half": half} if half else {})}
        record_scoring(tmp_path, {"name": f"p-{half}", "target": target}, "row", 0, score, "c1", "c.yaml")
    assert [e["protocol"] for e in entries(tmp_path)] == ["p-report", "p-None"]
    dev = ledger_line(tmp_path, {"name": "p-dev", "target": {"split": "all", "half": "dev"}})
    assert dev.startswith("The target is the development half of its people (half: dev)")
    report = ledger_line(tmp_path, {"name": "p-report", "target": {"split": "all", "half": "report"}})
    assert report.startswith("Test scorings of this protocol so far: 1 ")


def test_the_accuracy_column_names_a_development_target_as_such():
    from benchmarks.tables import target_column

    assert target_column({"split": "test"}) == "test accuracy"
    assert target_column({"split": "all", "half": "report"}) == "test accuracy"
    assert target_column({"split": "all", "half": "dev"}) == "development-half accuracy"
    assert target_column({"split": "val"}) == "val accuracy"
