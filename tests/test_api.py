"""fewshot_fer.api: the commands as functions, with the command line's checks and results."""

import pytest
import torch

import fewshot_fer
from fewshot_fer.api import evaluate, train
from fewshot_fer.commands import train as train_command
from fewshot_fer.weights import load_checkpoint

TINY = dict(image_size=24, way=3, shot=2, query=3, episodes_per_epoch=4, val_episodes=5, seed=3)


@pytest.mark.slow  # the README's and the API page's examples cover train and evaluate in the default run
def test_train_and_evaluate_return_what_the_command_line_writes(tmp_path):
    run = train(**TINY, epochs=2, output=str(tmp_path), name="api")
    assert train_command.main(["--image-size", "24", "--way", "3", "--shot", "2", "--query", "3",
                               "--episodes-per-epoch", "4", "--val-episodes", "5", "--seed", "3", "--epochs", "2",
                               "--output", str(tmp_path), "--name", "cli"]) == 0
    a, b = load_checkpoint(run.checkpoint)["model"], load_checkpoint(tmp_path / "cli" / "best.pt")["model"]
    assert all(torch.equal(v, b[k]) for k, v in a.items())  # one code path: the same weights
    assert run.run_dir == tmp_path / "api" and [r["epoch"] for r in run.history] == [1, 2]
    best = max(run.history, key=lambda r: r["val_acc"])
    assert (run.best_epoch, run.best_accuracy) == (best["epoch"], best["val_acc"])
    scores = evaluate(run.checkpoint, shots=(1, 2), episodes=6, output=str(tmp_path / "ev"))
    assert sorted(scores.accuracies) == [1, 2] and scores.accuracies[2].shape == (6,)
    assert scores.accuracy(2) == pytest.approx(scores.accuracies[2].mean().item())
    assert scores.summary["way"] == 3 and (tmp_path / "ev" / "summary.json").is_file()
    with pytest.raises(ValueError, match=r"no results for 5-shot; these shots were scored: \[1, 2\]"):
        scores.accuracy(5)
    resumed = train(resume=str(run.run_dir), epochs=3)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3]


def test_wrong_settings_raise_one_sentence(tmp_path):
    cases = {"wayy": (3, r"fewshot_fer.api.train\(\) has unknown key 'wayy'"),
             "epochs": ("x", r"epochs \(--epochs\) must be a whole number, got 'x'"),
             "channels": (2, r"channels \(--channels\) must be one of 1, 3, got 2"),
             "no_augment": (1, "has unknown key 'no_augment'"),
             "augment": ("maybe", "augment must be true or false"),
             "lr": (float("nan"), r"lr \(--lr\) must be a positive, finite number, got nan")}
    for key, (value, message) in cases.items():
        with pytest.raises(ValueError, match=message):
            train(**{key: value, "output": str(tmp_path)})
    assert not any(tmp_path.iterdir())  # nothing half made
    with pytest.raises(FileNotFoundError, match=r"checkpoint .*none.pt does not exist"):
        evaluate(tmp_path / "none.pt")


def test_the_package_exports_its_pieces_lazily():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", "import sys, fewshot_fer; print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"  # import fewshot_fer stays light
    assert fewshot_fer.create_dataset is __import__("fewshot_fer.data", fromlist=["x"]).create_dataset
    assert fewshot_fer.EpisodicRecipe is __import__("fewshot_fer.training.recipes", fromlist=["x"]).EpisodicRecipe
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        fewshot_fer.nope
