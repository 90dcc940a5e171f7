"""Every learner, trained briefly from the command line, beats chance clearly on unseen people."""

import csv

import pytest

from fewshot_fer.commands import train

# Four expressions, validated on unseen people (relation networks need 3x3 feature maps: 48 px).
CLASSES = "happiness,surprise,anger,sadness"
SHORT = ["--image-size", "48", "--way", "3", "--shot", "5", "--query", "5", "--epochs", "3",
         "--episodes-per-epoch", "30", "--val-episodes", "40", "--val-dataset", "synthetic-basic",
         "--classes", CLASSES, "--val-classes", CLASSES, "--seed", "1"]


@pytest.mark.parametrize("learner, options", [
    ("protonet", []), ("relationnet", []), ("feat", []),
    ("maml", ["--learner-option", "inner_steps=2", "--learner-option", "eval_steps=4"]),
])
@pytest.mark.slow
def test_short_training_beats_chance(tmp_path, learner, options):
    assert train.main([*SHORT, "--learner", learner, *options, "--output", str(tmp_path), "--name", "r"]) == 0
    rows = list(csv.DictReader(open(tmp_path / "r" / "metrics.csv")))
    best = max(rows, key=lambda r: float(r["val_acc"]))
    acc, ci = float(best["val_acc"]), float(best["val_ci95"])
    assert acc - ci > 0.40, f"{learner}: best validation accuracy {acc:.3f} +- {ci:.3f}, chance is 0.333"


def test_learner_and_backbone_options_are_checked(tmp_path):
    with pytest.raises(ValueError, match=r"learner 'maml' has no option 'steps'; its options are: inner_steps, inner_lr"):
        train.main([*SHORT, "--learner", "maml", "--learner-option", "steps=2", "--output", str(tmp_path)])
    with pytest.raises(ValueError, match=r"--backbone-option 'width' is not KEY=VALUE"):
        train.main([*SHORT, "--backbone-option", "width", "--output", str(tmp_path)])
