"""The semi-supervised FER2013 benchmark on a tiny FER2013 layout written by the test."""

import re

import pytest
import yaml
from layouts import make_layout

from benchmarks import semi_supervised


def test_supervised_table_from_a_tiny_fer2013(tmp_path):
    make_layout(tmp_path / "fer2013")
    argv = ["--keep-duplicates", "--data-root", str(tmp_path / "fer2013"), "--fractions", "1", "--output", str(tmp_path / "runs"),
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
    argv = ["--keep-duplicates", "--data-root", str(tmp_path / "fer2013"), "--fractions", "0.5", "--output", str(tmp_path / "runs"),
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


def test_the_seed_config_runs_end_to_end_on_a_tiny_layout(tmp_path):
    make_layout(tmp_path / "fer2013")
    argv = ["--keep-duplicates", "--config", "benchmarks/configs/seed-fer2013-selftrain.yaml", "--data-root",
            str(tmp_path / "fer2013"),
            "--output", str(tmp_path / "runs"), "--results", str(tmp_path / "results"),
            # the study's settings, made tiny (flags typed here win over the file)
            "--backbone-option", "width=0.125", "--epochs", "1", "--round-epochs", "1", "--rounds", "1",
            "--threshold", "0", "--mc-passes", "3", "--image-size", "24"]
    assert semi_supervised.main(argv) == 0
    table = (tmp_path / "results" / "semi-supervised-fer2013.md").read_text()
    models = [line.split("|")[2].strip() for line in table.splitlines() if line.startswith(("| 25% |", "| 100% |"))]
    assert [m.removesuffix(", kept") for m in models] == [
        "round 0 (supervised only)", "round 1", "fresh member (50% of the labels)",
        "ensemble: kept round + fresh member", "round 0 (supervised only)"]
    assert sum(m.endswith(", kept") for m in models[:2]) == 1 and models[4].endswith(", kept")
    args = yaml.safe_load((tmp_path / "runs" / "fer2013-labelled-0.25" / "args.yaml").read_text())
    assert (args["rehearsal"], args["fresh"], args["round_lr_decay"], args["epochs"]) == ("all", 0.5, 0.5, 1)
    assert args["backbone_options"] == {"width": 0.125}
    with pytest.raises(ValueError, match="config file .* has unknown keys \\['epochs'\\]"):
        bad = tmp_path / "bad.yaml"
        bad.write_text("epochs: 3\n")
        semi_supervised.main(["--config", str(bad)])
