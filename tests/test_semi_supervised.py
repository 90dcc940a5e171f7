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
    rows = [line for line in table.splitlines() if line.startswith("| 100% |")]
    cells = [c.strip() for c in rows[0].strip("|").split("|")]
    assert len(rows) == 1 and cells[1] == "round 0 (supervised only), kept"  # --rounds 0: round 0 alone
    assert cells[2:4] == ["14", "0"]  # 2 faces per class (the augmented copy is not a face), no pseudo-labels
    assert cells[5].endswith("%") and cells[6].endswith("% (30 passes)")
    assert re.fullmatch(r"\d+\.\d", cells[7])  # CPU minutes
    assert "--device cuda" in table  # the GPU command for the study's full-width model


def test_rounds_fresh_member_and_ensemble_rows(tmp_path):
    make_layout(tmp_path / "fer2013")
    argv = ["--data-root", str(tmp_path / "fer2013"), "--fractions", "0.5", "--output", str(tmp_path / "runs"),
            "--results", str(tmp_path / "results"), "--table", "semi", "--rounds", "1", "--fresh", "0.5",
            "--threshold", "0", "--mc-passes", "3", "--epochs", "1", "--round-epochs", "1", "--image-size", "24",
            "--backbone-option", "width=0.125"]
    assert semi_supervised.main(argv) == 0
    rows = [[c.strip() for c in line.strip("|").split("|")]
            for line in (tmp_path / "results" / "semi.md").read_text().splitlines() if line.startswith("| 50% |")]
    assert [r[1].split(",")[0].split(" (")[0] for r in rows] == [
        "round 0", "round 1", "fresh member", "ensemble: kept round + fresh member"]
    assert rows[0][3] == "0" and int(rows[1][3]) > 0  # pseudo-labels arrive in round 1
    assert all(r[6].endswith("% (3 passes)") for r in rows)
