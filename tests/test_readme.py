"""The README's Python example runs as printed."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def run_readme_example(heading: str) -> dict:
    """Run the first Python block under ``heading`` in README.md; returns its variables."""
    text = README.read_text()
    code = re.search(r"```python\n(.*?)```", text[text.index(heading):], re.S).group(1)
    namespace: dict = {}
    exec(compile(code, f"README.md ({heading})", "exec"), namespace)
    return namespace


def test_python_example_runs_as_printed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = run_readme_example("## Using the pieces from Python")
    probs, episode = namespace["probs"], namespace["episode"]
    assert probs.shape == (45, 3)
    assert probs.sum(-1).allclose(probs.new_ones(45))
    assert episode.support_y.tolist() == [0] * 5 + [1] * 5 + [2] * 5


def test_training_from_python_runs_as_printed(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    namespace = run_readme_example("### Training and evaluating from Python")
    run, scores = namespace["run"], namespace["scores"]
    assert run.run_dir == tmp_path / "runs" / "from-python" and run.checkpoint.is_file()
    assert 0 <= run.best_accuracy <= 1 and run.best_epoch in (1, 2) and len(run.history) == 2
    assert sorted(scores.accuracies) == [1, 5] and scores.accuracies[5].shape == (50,)
    assert scores.accuracy(5) == scores.accuracies[5].mean().item()
    out = capsys.readouterr().out
    assert "validation " in out and "test 5-shot " in out
    typed = run_readme_example("### Typed recipes")  # repeats the run above from its args.yaml
    assert typed["recipe"].episodes.way == 3 and typed["again"].run_dir == tmp_path / "runs" / "again"
    speedless = lambda h: [{k: v for k, v in r.items() if k != "episodes_per_s"} for r in h]  # noqa: E731
    assert speedless(typed["again"].history) == speedless(run.history)
