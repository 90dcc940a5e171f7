"""Harness rows of every kind: a baseline scored as a frozen feature extractor, pre-training and
fine-tuning stages the harness trains itself, test-time (``of``) rows, floors and ensembles."""

import csv
import json
from pathlib import Path

import pytest
import torch
import yaml
from test_benchmark_harness import rewrite_config, synthetic_config, tiny

from benchmarks import run as harness


@pytest.mark.slow
def test_baseline_is_scored_as_a_frozen_feature_extractor_and_leaks_are_refused(tmp_path):
    from fewshot_fer.commands import selftrain
    assert selftrain.main(["--image-size", "24", "--epochs", "1", "--rounds", "0", "--backbone-option", "width=0.125",
                           "--output", str(tmp_path / "st"), "--name", "cnn"]) == 0
    baseline = {"name": "selftrain-cnn", "checkpoint": str(tmp_path / "st" / "cnn" / "best.pt")}
    config = synthetic_config(tmp_path, "tiny-synthetic", learners=[], baselines=[baseline], untrained=False)
    assert harness.main(["--config", config]) == 0
    row = next(csv.DictReader(open(tmp_path / "results" / "tiny-synthetic.csv")))
    assert row["model"] == "selftrain-cnn" and row["backbone"] == "vgcnn" and row["episodes"] == "6"
    leaky = tiny("leaky-baseline", {"dataset": "synthetic-basic", "classes": ["happiness", "sadness"]},
                 {"dataset": "synthetic-basic", "split": "val", "classes": ["fear", "anger"]},
                 {"dataset": "synthetic-basic", "split": "test", "classes": ["fear", "anger"]}, True)
    (tmp_path / "leaky-baseline.yaml").write_text(yaml.safe_dump(leaky))
    rewrite_config(config, protocols=[str(tmp_path / "leaky-baseline.yaml")])
    with pytest.raises(ValueError, match=r"model 'selftrain-cnn' was trained on \['anger', 'fear'\]"):
        harness.main(["--config", config])


@pytest.mark.slow
def test_harness_trains_pretraining_fine_tuning_and_baselines_itself(tmp_path):
    config = synthetic_config(tmp_path, "tiny-stages", learners=[], models=[
        {"name": "protonet", "learner": "protonet", "backbone": "conv4"},
        {"name": "simpleshot", "pretrain": ["--epochs", "1", "--batch-size", "128", "--val-episodes", "3"]},
        {"name": "meta-baseline", "learner": "protonet", "from": "simpleshot",
         "flags": ["--learner-option", "distance=cosine"]},
        {"name": "simpleshot transductive", "of": "simpleshot",
         "eval": ["--learner-option", "transductive_steps=2", "--learner-option", "flip=true"]},
        {"name": "selftrain-cnn", "selftrain": ["--epochs", "1", "--rounds", "0", "--backbone-option", "width=0.125"]},
        {"name": "vote", "ensemble": ["protonet", "meta-baseline"]},
        {"name": "untrained conv4 flip", "of": "untrained conv4", "eval": ["--learner-option", "flip=true"]}])
    assert harness.main(["--config", config]) == 0
    rows = {r["model"]: r for r in csv.DictReader(open(tmp_path / "results" / "tiny-stages.csv"))}
    assert list(rows) == ["untrained conv4", "untrained vgcnn", "protonet", "simpleshot", "meta-baseline",
                          "simpleshot transductive", "selftrain-cnn", "vote", "untrained conv4 flip"]
    # the floor under a test-time option: the untrained checkpoint, scored with flip
    floor = rows["untrained conv4 flip"]
    assert (floor["stages"], floor["faces_seen"], floor["commit"]) == ("none (random weights)", "0",
                                                                       rows["untrained conv4"]["commit"])
    summary = json.loads((tmp_path / "runs" / "test-tiny-stages" / "untrained-conv4-flip" / "summary.json").read_text())
    assert summary["test_time_options"] == ["flip=true"] and summary["checkpoint"].endswith("seed0.pt")
    # an ensemble row: the soft vote of its members on the same episodes, their budgets summed
    assert rows["vote"]["stages"] == "ensemble of protonet + meta-baseline"
    assert int(rows["vote"]["faces_seen"]) == int(rows["protonet"]["faces_seen"]) + int(rows["meta-baseline"]["faces_seen"])
    vote = json.loads((tmp_path / "runs" / "test-tiny-stages" / "vote" / "summary.json").read_text())
    assert [Path(p).parent.name for p in vote["checkpoint"]] == ["tiny-stages-protonet", "tiny-stages-meta-baseline"]
    assert len(vote["shots"]["1"]["members"]) == 2
    assert rows["simpleshot transductive"]["faces_seen"] == rows["simpleshot"]["faces_seen"]
    summary = json.loads((tmp_path / "runs" / "test-tiny-stages" / "simpleshot-transductive" / "summary.json").read_text())
    assert summary["test_time_options"] == ["transductive_steps=2", "flip=true"]
    assert rows["simpleshot"]["stages"] == "pretrain" and rows["simpleshot"]["faces_seen"] == "3360"
    assert rows["meta-baseline"]["stages"] == "simpleshot + episodic"
    assert int(rows["meta-baseline"]["faces_seen"]) == 3360 + 12  # pre-training counts in the budget
    cpu = {name: float(r["cpu_minutes"]) for name, r in rows.items()}
    assert cpu["untrained conv4"] == 0 and cpu["simpleshot"] > 0
    assert cpu["meta-baseline"] > cpu["simpleshot"]  # its own fine-tune on top of the pre-training
    assert rows["selftrain-cnn"]["faces_seen"] == "3360" and rows["selftrain-cnn"]["best_epoch"] == "round 0"
    fine = yaml.safe_load((tmp_path / "runs" / "tiny-stages-meta-baseline" / "args.yaml").read_text())
    assert fine["pretrained"].endswith("tiny-stages-simpleshot/best.pt")
    assert all(r["paired_diff"] != "" for name, r in rows.items() if name != "protonet")
    # the commit column is the code that trained each row, read from its run directory
    (tmp_path / "runs" / "tiny-stages-simpleshot" / "environment.yaml").write_text("git_commit: 0123456789abcdef\n")
    assert harness.main(["--config", config]) == 0  # every run reused, rows scored again
    rows = {r["model"]: r for r in csv.DictReader(open(tmp_path / "results" / "tiny-stages.csv"))}
    assert rows["simpleshot"]["commit"] == rows["simpleshot transductive"]["commit"] == "0123456789abcdef"
    assert rows["selftrain-cnn"]["val_ci95"] == "" and "| round 0 |" in (tmp_path / "results" / "tiny-stages.md").read_text()


@pytest.mark.slow
def test_a_test_time_row_needs_a_model_listed_before_it(tmp_path):
    config = synthetic_config(tmp_path, "tiny-of", learners=[], models=[
        {"name": "protonet", "learner": "protonet", "backbone": "conv4"},
        {"name": "vote", "ensemble": ["protonet", "protonet"]},
        {"name": "vote flip", "of": "vote", "eval": ["--learner-option", "flip=true"]}])
    with pytest.raises(ValueError, match=r"model 'vote flip' scores 'vote', which must be a model \(not an "
                                         r"ensemble\) listed before it"):
        harness.main(["--config", config])


def test_an_ensemble_row_needs_trained_members_listed_before_it(tmp_path):
    trained = {"protonet": tmp_path / "p"}
    assert harness.ensemble_members({"name": "v", "ensemble": ["protonet", "protonet"]}, trained) == [
        tmp_path / "p" / "best.pt"] * 2
    with pytest.raises(ValueError, match=r"ensemble 'v' votes with 'feat', which must be a trained model listed "
                                         r"before it \(trained here: protonet\)"):
        harness.ensemble_members({"name": "v", "ensemble": ["protonet", "feat"]}, trained)
    with pytest.raises(ValueError, match=r"ensemble 'v' must list two or more models, got \['protonet'\]"):
        harness.ensemble_members({"name": "v", "ensemble": ["protonet"]}, trained)
    from benchmarks.tables import short_commits

    assert short_commits("0123456789abcdef fedcba9876543210") == "0123456789 fedcba9876"  # members' commits
    assert short_commits("0123456789abcdef") == "0123456789"
    assert short_commits("0123456789abcdef-dirty 0123456789abcdef") == "0123456789-dirty 0123456789"


def test_a_row_names_its_settings_as_a_mapping_or_as_flags():
    """Structured rows: a mapping of setting names (flat, or grouped as the recipe groups them) sets
    exactly what the flag list it replaces sets, checked by the same recipe fields."""
    from fewshot_fer.commands import evaluate, pretrain, train

    as_flags = harness.flag_settings(train, ["--learner-option", "distance=cosine", "--lr", "0.0005"])
    grouped = harness.flag_settings(train, {"model": {"learner_option": ["distance=cosine"]}, "optim": {"lr": 5e-4}})
    assert as_flags == grouped == {"learner_option": ["distance=cosine"], "lr": 0.0005}
    assert harness.flag_settings(pretrain, {"backbone": "resnet12", "backbone_option": ["widths=[32,64,128,256]"],
                                            "epochs": 60, "precision": "bf16"}) == \
        harness.flag_settings(pretrain, ["--backbone", "resnet12", "--backbone-option", "widths=[32,64,128,256]",
                                         "--epochs", "60", "--precision", "bf16"])
    assert harness.flag_settings(evaluate, {"learner_option": ["flip=true", "shift=1"]}) == \
        harness.flag_settings(evaluate, ["--learner-option", "flip=true", "--learner-option", "shift=1"])
    with pytest.raises(ValueError, match=r"the row's train settings: lr \(--lr\) must be a number, got 'fast'"):
        harness.flag_settings(train, {"optim": {"lr": "fast"}})


def test_a_floor_stands_under_every_backbone_as_the_rows_build_it(tmp_path):
    narrow = ["widths=[32,64,128,256]"]
    config = {"_path": "c.yaml", "models": [
        {"name": "protonet", "learner": "protonet", "backbone": "conv4"},
        {"name": "simpleshot-r12", "pretrain": {"backbone": "resnet12", "backbone_option": narrow}},
        {"name": "meta-baseline-r12", "learner": "protonet", "backbone": "resnet12", "from": "simpleshot-r12",
         "train": {"backbone_option": narrow}},
        {"name": "cnn", "selftrain": {"backbone_option": ["width=0.125"]}},
        {"name": "protonet flip", "of": "protonet", "eval": {"learner_option": ["flip=true"]}}]}
    floors = [s for s in harness.model_specs(config) if "untrained" in s]
    assert [(s["name"], s["untrained"], s["backbone_option"]) for s in floors] == [
        ("untrained conv4", "conv4", []),
        ("untrained resnet12 widths=[32,64,128,256]", "resnet12", narrow),
        ("untrained vgcnn width=0.125", "vgcnn", ["width=0.125"])]
    # the floor is built with the row's options: the narrow ResNet-12's last width, not the default 640
    path = tmp_path / harness.untrained_name("resnet12", {}, narrow)
    harness.untrained_checkpoint("resnet12", {}, narrow, path)
    state = torch.load(path, weights_only=False)
    assert state["model_config"]["backbone_kwargs"] == {"widths": [32, 64, 128, 256]}
    assert harness.untrained_name("resnet12", {}, narrow) != harness.untrained_name("resnet12", {})
    assert "untrained" not in str(harness.model_specs({**config, "untrained": False}))


@pytest.mark.parametrize("path", sorted(Path("benchmarks/configs").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_config_has_known_keys_and_rows_its_recipes_accept(path):
    """A typo in a shipped config (a key, a setting, a value) fails here, not hours into a run."""
    from benchmarks.protocol import load_protocol, load_yaml
    from benchmarks.scoring import flag_settings
    from fewshot_fer.commands import evaluate

    config = load_yaml(path)
    if config.get("experiment"):  # an experiment of the runner checks its own settings (their tests)
        return
    assert not set(config) - harness.CONFIG_KEYS, path
    config["_path"] = str(path)
    if config.get("models_from"):
        config["models"] = load_yaml(Path(config["models_from"]))["models"]
    protocol = load_protocol(config["protocols"][0])
    roots = {k: str(v) for k, v in (config.get("data_roots") or {}).items()}
    trained = {}
    for spec in harness.model_specs(config):
        if "eval" in spec:
            flag_settings(evaluate, spec["eval"])
        if "learner" in spec or "pretrain" in spec or "selftrain" in spec:
            harness.stage_settings(spec, protocol, config, roots, trained)
            trained[spec["name"]] = Path("unused")


def test_a_config_key_the_runner_does_not_know_is_refused(tmp_path):
    (tmp_path / "c.yaml").write_text("protocols: [synthetic]\nmodels: []\nseed: [0, 1]\n")
    with pytest.raises(ValueError, match=r"c.yaml: unknown key 'seed'; a benchmark config has the keys backbones, "):
        harness.main(["--config", str(tmp_path / "c.yaml")])
