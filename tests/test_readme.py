"""The README's Python example and the Python API page's examples run as printed."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_example(page: str, heading: str) -> dict:
    """Run the first Python block under ``heading`` in ``page``; returns its variables."""
    text = (ROOT / page).read_text()
    code = re.search(r"```python\n(.*?)```", text[text.index(heading):], re.S).group(1)
    namespace: dict = {}
    exec(compile(code, f"{page} ({heading})", "exec"), namespace)
    return namespace


def test_readme_example_runs_as_printed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace = run_example("README.md", "## From Python")
    run, scores = namespace["run"], namespace["scores"]
    assert run.run_dir == tmp_path / "runs" / "readme" and run.checkpoint.is_file() and len(run.history) == 2
    assert sorted(scores.accuracies) == [1, 5] and scores.accuracies[5].shape == (50,)
    out = capsys.readouterr().out
    assert "validation " in out and "test 5-shot " in out


def test_python_example_runs_as_printed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = run_example("docs/python.md", "## Using the pieces from Python")
    probs, episode = namespace["probs"], namespace["episode"]
    assert probs.shape == (45, 3)
    assert probs.sum(-1).allclose(probs.new_ones(45))
    assert episode.support_y.tolist() == [0] * 5 + [1] * 5 + [2] * 5


@pytest.mark.slow  # the same calls as the README's example, which the default run checks
def test_training_from_python_runs_as_printed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace = run_example("docs/python.md", "### Training and evaluating from Python")
    run, scores = namespace["run"], namespace["scores"]
    assert run.run_dir == tmp_path / "runs" / "from-python" and run.checkpoint.is_file()
    assert 0 <= run.best_accuracy <= 1 and run.best_epoch in (1, 2) and len(run.history) == 2
    assert sorted(scores.accuracies) == [1, 5] and scores.accuracies[5].shape == (50,)
    assert scores.accuracy(5) == scores.accuracies[5].mean().item()
    out = capsys.readouterr().out
    assert "validation " in out and "test 5-shot " in out



def test_objects_example_runs_as_printed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace = run_example("docs/python.md", "### Your own objects")
    run, scores = namespace["run"], namespace["scores"]
    assert run.checkpoint.is_file() and scores.accuracies[2].shape == (20,)
    args = namespace["torch"].load(run.checkpoint, weights_only=False)["args"]
    assert args["dataset"] == "object:mine" and args["learner"] == "module:fewshot_fer.learners.protonet.PrototypicalNetwork"
    assert "% on 20 episodes of my test faces" in capsys.readouterr().out


@pytest.mark.slow
def test_typed_recipes_example_repeats_the_run_as_printed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = run_example("docs/python.md", "### Training and evaluating from Python")["run"]
    typed = run_example("docs/python.md", "### Typed recipes")  # repeats the run above from its args.yaml
    assert typed["recipe"].episodes.way == 3 and typed["again"].run_dir == tmp_path / "runs" / "again"
    speedless = lambda h: [{k: v for k, v in r.items() if k != "episodes_per_s"} for r in h]  # noqa: E731
    assert speedless(typed["again"].history) == speedless(run.history)
