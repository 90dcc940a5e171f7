"""Typed configs: one checking path for keyword arguments, YAML files and the command line, and a
run's own args.yaml repeating the run exactly."""

import pytest
import torch
import yaml

from fewshot_fer import train
from fewshot_fer.api import train as api_train
from fewshot_fer.config import GROUPS, TrainConfig
from fewshot_fer.weights import load_checkpoint

FAST = dict(image_size=24, way=3, shot=2, query=3, episodes_per_epoch=4, val_episodes=5, seed=3, epochs=1)


def test_settings_are_grouped_typed_and_resolved():
    config = TrainConfig.parse(way=3, shot=2, lr=0.01, face_detector="haar", dataset="folder", data_root="x")
    assert config.episodes.way == 3 and config.episodes.val_way == 3 and config.episodes.val_shot == 2  # resolved
    assert config.optim.lr == 0.01 and isinstance(config.optim.lr, float) and config.model.learner == "protonet"
    assert config.data.val_dataset == "folder" and config.data.reading["face_detector"] == "haar"
    assert TrainConfig.from_settings(config.settings()) == config  # a round trip


def test_every_flag_of_train_has_one_typed_place():
    parser = train.build_parser()
    flags = {a.dest for a in parser._actions if a.option_strings} - {"help", "config", "debug"}
    config = TrainConfig.parse()
    typed = {f for name in GROUPS for f in vars(getattr(config, name)) if f != "reading"}
    assert typed | set(config.data.reading) == flags and not typed & set(config.data.reading)


@pytest.mark.parametrize("settings,message", [
    (dict(channels=2), r"argument --channels: invalid choice: 2 \(choose from 1, 3\)"),
    (dict(lr=[1, 2]), r"lr takes one value, got \[1, 2\]"),
    (dict(colour=1), r"TrainConfig has no setting 'colour'"),
    (dict(way=1), r"--way must be 2 or more \(classes per episode\), got 1"),
    (dict(query=0), r"--query must be a positive, finite number, got 0"),
    (dict(face_detector="haar"), r"--face-detector applies to the afew, ckplus, folder and jaffe datasets"),
])
def test_a_wrong_key_or_value_is_the_same_sentence_everywhere(settings, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        TrainConfig.parse(**settings)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(settings))
    if "colour" in settings:  # a YAML file names the key in its own words
        message = r"config file \S*c\.yaml has unknown key 'colour'"
    with pytest.raises(ValueError, match=message):
        TrainConfig.from_yaml(tmp_path / "c.yaml")


def metrics(history):
    """Every figure of every epoch but the speed (episodes per second)."""
    return [{k: v for k, v in row.items() if k != "episodes_per_s"} for row in history]


def test_a_runs_args_yaml_reproduces_its_metrics_exactly(tmp_path):
    first = api_train(**FAST, output=str(tmp_path), name="first")
    config = TrainConfig.from_yaml(first.run_dir / "args.yaml")
    assert config.run.name == "first" and config.episodes.shot == 2
    again = api_train(config, name="again")
    assert metrics(again.history) == metrics(first.history) and again.best_accuracy == first.best_accuracy
    # the command line does the same from the file
    assert train.main(["--config", str(first.run_dir / "args.yaml"), "--name", "cli"]) == 0
    assert metrics(load_checkpoint(tmp_path / "cli" / "last.pt")["progress"]["history"]) == metrics(first.history)
    a, b = (load_checkpoint(tmp_path / n / "best.pt")["model"] for n in ("first", "cli"))
    assert all(torch.equal(v, b[k]) for k, v in a.items())
