"""Typed recipes: one checking path for keyword arguments, YAML files, the command line and a
checkpoint's recorded settings; command lines generated from the recipes; a run's own args.yaml
repeating the run exactly."""

import dataclasses

import pytest
import torch
import yaml

from fewshot_fer.api import evaluate
from fewshot_fer.api import train as api_train
from fewshot_fer.commands import pretrain, selftrain, train
from fewshot_fer.commands.cli import parse_recipe
from fewshot_fer.training.recipes import RECIPES, EpisodicRecipe, PretrainRecipe, SelfTrainRecipe
from fewshot_fer.weights import load_checkpoint, save_checkpoint

FAST = dict(image_size=24, way=3, shot=2, query=3, episodes_per_epoch=4, val_episodes=5, seed=3, epochs=1)


def test_settings_are_grouped_typed_and_resolved():
    recipe = EpisodicRecipe.build(("test", dict(way=3, shot=2, lr="0.01", face_detector="haar", dataset="folder",
                                                data_root="x")))
    assert recipe.episodes.way == 3 and recipe.episodes.val_way == 3 and recipe.episodes.val_shot == 2  # resolved
    assert recipe.optim.lr == 0.01 and isinstance(recipe.optim.lr, float) and recipe.model.learner == "protonet"
    assert recipe.data.val_dataset == "folder" and recipe.data.reading["face_detector"] == "haar"
    assert EpisodicRecipe.build(("again", recipe.settings())) == recipe  # a round trip
    grouped = EpisodicRecipe.build(("groups", {"optim": {"lr": 0.01}, "episodes": {"way": 3, "shot": 2}}))
    assert grouped.optim.lr == 0.01 and grouped.episodes.val_way == 3
    assert recipe.replace(lr=0.5).optim.lr == 0.5 and recipe.optim.lr == 0.01  # frozen: a new recipe


@pytest.mark.parametrize("command", [train, pretrain, selftrain])
def test_every_flag_is_one_field_of_the_recipe(command):
    flags = {a.dest for a in command.build_parser()._actions if a.option_strings} - {"help", "config", "debug"}
    assert set(command.RECIPE.keys()) == flags
    assert set(command.RECIPE().settings()) == flags  # args.yaml records every setting
    assert RECIPES[command.RECIPE.command] is command.RECIPE


@pytest.mark.parametrize("settings,message", [
    (dict(channels=2), r"channels \(--channels\) must be one of 1, 3, got 2\."),
    (dict(lr=[1, 2]), r"lr \(--lr\) takes one value, got \[1, 2\]\."),
    (dict(lr="fast"), r"lr \(--lr\) must be a number, got 'fast'\."),
    (dict(epochs="x"), r"epochs \(--epochs\) must be a whole number, got 'x'\."),
    (dict(way=1), r"way \(--way\) must be 2 or more, got 1\."),
    (dict(query=0), r"query \(--query\) must be a positive, finite number, got 0\."),
    (dict(val_episodes=10**9), r"val_episodes \(--val-episodes\) must be at most 100,000, got 1,000,000,000\."),
    (dict(lr_schedule="steep"), r"lr_schedule \(--lr-schedule\) must be cosine, constant or step:EVERY:FACTOR"),
    (dict(face_detector="haar"), r"--face-detector applies to the afew, ckplus, folder and jaffe datasets"),
])
def test_a_wrong_value_is_the_same_sentence_everywhere(settings, message, tmp_path):
    (key, value), = settings.items()
    with pytest.raises(ValueError, match="^fewshot_fer.api.train\\(\\): " * (key != "face_detector") + message):
        api_train(**settings, output=str(tmp_path))
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(settings))
    with pytest.raises(ValueError, match=r"^config file \S*c\.yaml: " * (key != "face_detector") + message):
        EpisodicRecipe.from_yaml(tmp_path / "c.yaml")
    if not isinstance(value, list):  # a flag takes one value
        argv = ["--" + key.replace("_", "-"), str(value)]
        with pytest.raises(ValueError, match="^command line: " * (key != "face_detector") + message):
            parse_recipe(EpisodicRecipe, train.build_parser(), argv)
    assert not any(p.name != "c.yaml" for p in tmp_path.iterdir())  # nothing half made


def test_unknown_keys_and_switches():
    with pytest.raises(ValueError, match=r"^fewshot_fer.api.train\(\) has unknown key 'colour'; the keys are the "
                                         r"flag names"):
        api_train(colour=1)
    with pytest.raises(ValueError, match=r"^recipe: augment must be true or false, got 'maybe'\."):
        EpisodicRecipe.build(("recipe", {"augment": "maybe"}))
    recipe, typed = parse_recipe(EpisodicRecipe, train.build_parser(), ["--no-augment", "--learner-option", "a=1",
                                                                         "--learner-option", "b=2", "--strict"])
    assert not recipe.optim.augment and recipe.model.learner_option == ["a=1", "b=2"]
    assert recipe.data.reading["strict"] is True and typed == {"augment", "learner_option", "strict"}


def test_the_other_recipes_check_their_own_bounds():
    with pytest.raises(ValueError, match=r"momentum \(--momentum\) must be in \[0, 1\), got 1"):
        PretrainRecipe.build(("test", {"momentum": 1}))
    with pytest.raises(ValueError, match=r"threshold \(--threshold\) must be in \[0, 1\], got 2"):
        SelfTrainRecipe.build(("test", {"threshold": 2}))
    with pytest.raises(ValueError, match=r"rehearsal \(--rehearsal\) must be 'all' or 'sample:F'"):
        SelfTrainRecipe.build(("test", {"rehearsal": "sample:0"}))
    assert SelfTrainRecipe().model.backbone == "vgcnn" and PretrainRecipe().optim.epochs == 30
    assert dataclasses.is_dataclass(EpisodicRecipe().optim) and EpisodicRecipe().optim.epochs == 8


def metrics(history):
    """Every figure of every epoch but the speed (episodes per second)."""
    return [{k: v for k, v in row.items() if k != "episodes_per_s"} for row in history]


def test_a_runs_args_yaml_reproduces_its_metrics_exactly(tmp_path):
    first = api_train(**FAST, output=str(tmp_path), name="first")
    recipe = EpisodicRecipe.from_yaml(first.run_dir / "args.yaml")
    assert recipe.run.name == "first" and recipe.episodes.shot == 2
    again = api_train(recipe, name="again")
    assert metrics(again.history) == metrics(first.history) and again.best_accuracy == first.best_accuracy
    # the command line does the same from the file
    assert train.main(["--config", str(first.run_dir / "args.yaml"), "--name", "cli"]) == 0
    assert metrics(load_checkpoint(tmp_path / "cli" / "last.pt")["progress"]["history"]) == metrics(first.history)
    a, b = (load_checkpoint(tmp_path / n / "best.pt")["model"] for n in ("first", "cli"))
    assert all(torch.equal(v, b[k]) for k, v in a.items())


def test_a_checkpoints_settings_are_checked_on_resume_and_by_evaluate(tmp_path):
    run = api_train(**FAST, output=str(tmp_path), name="r")
    last = run.run_dir / "last.pt"
    state = load_checkpoint(last)
    state["args"]["episodes_per_epoch"] = "many"
    save_checkpoint(state, last)
    with pytest.raises(ValueError, match=r"^--resume \S+: the settings in its last.pt: episodes_per_epoch "
                                         r"\(--episodes-per-epoch\) must be a whole number, got 'many'\."):
        api_train(resume=str(run.run_dir), epochs=2)
    best = run.run_dir / "best.pt"  # evaluate reads a checkpoint's settings through the same check
    state = load_checkpoint(best)
    state["args"]["val_dataset"] = ["synthetic-compound"]
    save_checkpoint(state, best)
    with pytest.raises(ValueError, match=r"^checkpoint \S+best.pt: its recorded settings: val_dataset "
                                         r"\(--val-dataset\) takes one value, got \['synthetic-compound'\]\."):
        evaluate(best, episodes=2, output=str(tmp_path / "ev"))
