"""The README's Python example runs as printed."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_python_example_runs_as_printed(tmp_path, monkeypatch):
    text = README.read_text()
    section = text[text.index("## Using the pieces from Python"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md (Using the pieces from Python)", "exec"), namespace)
    probs, episode = namespace["probs"], namespace["episode"]
    assert probs.shape == (45, 3)
    assert probs.sum(-1).allclose(probs.new_ones(45))
    assert episode.support_y.tolist() == [0] * 5 + [1] * 5 + [2] * 5
