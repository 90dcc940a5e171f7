"""Rows carried over from an earlier run of a seeded config whose run directories are gone
(``benchmarks/carry.py``): neither trained nor scored again, no new ledger line; trained again
(not scored) when a row to come needs their weights; scored again once their entry changes."""

import csv
import shutil

import pytest
import yaml
from test_benchmark_harness import rewrite_config, synthetic_config, synthetic_protocol

from benchmarks import run as harness
from benchmarks.carry import still_needed


def test_still_needed_follows_from_and_of_chains():
    specs = [{"name": "a"}, {"name": "b", "from": "a"}, {"name": "c", "of": "b"}, {"name": "d", "ensemble": ["a", "b"]}]
    assert still_needed(specs, {"a", "b", "c", "d"}) == set()
    assert still_needed(specs, {"a", "b", "d"}) == {"a", "b"}  # c scores b, which starts from a
    assert still_needed(specs, {"a", "b", "c"}) == {"a", "b"}  # d votes with both
    assert still_needed(specs, {"b", "c", "d"}) == set()  # a itself is trained because it is not done


def ledger(tmp_path):
    return list(csv.DictReader(open(tmp_path / "results" / "test-ledger.csv")))


def seed_table(tmp_path, protocol):
    rows = csv.DictReader(open(tmp_path / "results" / protocol / "seed0" / f"{protocol}.csv"))
    return {r["model"]: r for r in rows}


@pytest.mark.slow
def test_a_lost_run_folder_carries_scored_rows_over_and_trains_only_what_a_new_row_needs(tmp_path, capsys):
    models = [{"name": "protonet", "learner": "protonet", "backbone": "conv4"},
              {"name": "protonet flip", "of": "protonet", "eval": {"learner_option": ["flip=true"]}}]
    config = synthetic_config(tmp_path, "tiny-a", seeds=[0], learners=[], models=models)
    assert harness.main(["--config", config]) == 0
    first, scorings = seed_table(tmp_path, "tiny-a"), len(ledger(tmp_path))
    assert set(first) == {"untrained conv4", "protonet", "protonet flip"} and scorings == 3
    assert (tmp_path / "results" / "tiny-a" / "seed0" / "tiny-a-carried.json").is_file()

    shutil.rmtree(tmp_path / "runs")  # a new machine: only the results folder is left
    assert harness.main(["--config", config]) == 0
    assert seed_table(tmp_path, "tiny-a") == first and len(ledger(tmp_path)) == scorings
    assert not (tmp_path / "runs" / "seed0" / "tiny-a-protonet").exists()  # nothing trained

    # a second protocol scoring the same models: protonet is trained again for it (same seed, same
    # weights: no note), tiny-a's rows stay as they were, tiny-b's are scored (3 ledger lines)
    second = {**synthetic_protocol("tiny-b"), "train_as": str(tmp_path / "tiny-a.yaml")}
    (tmp_path / "tiny-b.yaml").write_text(yaml.safe_dump(second))
    rewrite_config(config, protocols=[str(tmp_path / "tiny-a.yaml"), str(tmp_path / "tiny-b.yaml")])
    capsys.readouterr()
    assert harness.main(["--config", config]) == 0
    assert "differs from the checkpoint" not in capsys.readouterr().out
    assert (tmp_path / "runs" / "seed0" / "tiny-a-protonet" / "best.pt").is_file()
    assert seed_table(tmp_path, "tiny-a") == first
    assert [r["protocol"] for r in ledger(tmp_path)[scorings:]] == ["tiny-b"] * 3
    b = seed_table(tmp_path, "tiny-b")
    assert b["protonet"]["commit"] == first["protonet"]["commit"]

    # a changed entry is trained and scored again, and so is the row that scores its weights
    shutil.rmtree(tmp_path / "runs")
    models[0]["train"] = {"lr": 0.002}
    rewrite_config(config, protocols=[str(tmp_path / "tiny-a.yaml")], models=models)
    scorings = len(ledger(tmp_path))
    assert harness.main(["--config", config]) == 0
    assert sorted(r["row"] for r in ledger(tmp_path)[scorings:]) == ["protonet", "protonet flip"]
    # the floor is carried; its paired difference is against the new protonet
    floor = seed_table(tmp_path, "tiny-a")["untrained conv4"]
    assert (floor["accuracy"], floor["scored_on"]) == (first["untrained conv4"]["accuracy"],
                                                       first["untrained conv4"]["scored_on"])
