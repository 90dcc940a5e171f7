"""The semi-supervised FER2013 benchmark on a tiny FER2013 layout written by the test."""

import re

from benchmarks import semi_supervised

from test_fer2013 import make_layout


def test_supervised_table_from_a_tiny_fer2013(tmp_path):
    make_layout(tmp_path / "fer2013")
    argv = ["--data-root", str(tmp_path / "fer2013"), "--fractions", "1", "--output", str(tmp_path / "runs"),
            "--results", str(tmp_path / "results"), "--table", "sup",
            "--rounds", "0", "--epochs", "1", "--image-size", "24", "--backbone-option", "width=0.125"]
    assert semi_supervised.main(argv) == 0
    table = (tmp_path / "results" / "sup.md").read_text()
    assert f"Command: `python -m benchmarks.semi_supervised {' '.join(argv)}`" in table
    row = next(line for line in table.splitlines() if line.startswith("| 100% |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1:3] == ["14", "0"]  # 2 faces per class (the augmented copy is not a face), none unlabeled
    assert cells[4] == "0" and cells[5] == cells[6] and cells[5].endswith("%")  # round 0 only
    assert re.fullmatch(r"\d+\.\d", cells[7])  # CPU minutes
    assert "--device cuda" in table  # the GPU command for the study's full-width model
