"""The semi-supervised study, an experiment of the benchmark runner, on a tiny FER2013 layout
written by the test."""

import csv
import re

import pytest
import yaml
from layouts import make_layout

from benchmarks import run as harness

TINY = {"backbone_option": ["width=0.125"], "epochs": 1, "image_size": 24, "keep_duplicates": True}


def study_config(tmp_path, **settings):
    """A config of the study on the tiny layout; ``settings`` over its keys."""
    make_layout(tmp_path / "fer2013")
    config = {"experiment": "semi-supervised", "protocols": ["fer2013-classification"],
              "data_roots": {"fer2013": str(tmp_path / "fer2013")}, "output": str(tmp_path / "runs"),
              "results": str(tmp_path / "results"), **settings}
    path = tmp_path / "study.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def table_rows(path, share):
    return [[c.strip() for c in line.strip("|").split("|")]
            for line in path.read_text().splitlines() if line.startswith(f"| {share} |")]


def test_supervised_table_from_a_tiny_fer2013(tmp_path):
    config = study_config(tmp_path, fractions=[1], table="sup", selftrain={**TINY, "rounds": 0})
    assert harness.main(["--config", config]) == 0
    table = (tmp_path / "results" / "sup.md").read_text()
    assert f"Command: `python -m benchmarks.run --config {config}`" in table
    rows = table_rows(tmp_path / "results" / "sup.md", "100%")
    assert len(rows) == 1 and rows[0][1] == "round 0 (supervised only), kept"  # rounds 0: round 0 alone
    assert rows[0][2:4] == ["14", "0"]  # 2 faces per class (the augmented copy is not a face), no pseudo-labels
    assert rows[0][5].endswith("%") and rows[0][6].endswith("% (30 passes)")
    assert re.fullmatch(r"\d+\.\d", rows[0][7])  # CPU minutes
    assert "semi-supervised-fer2013-gpu.yaml" in table  # the GPU command for the study's full-width model
    # its test figure is a line of the ledger, and the header counts it
    lines = list(csv.DictReader(open(tmp_path / "results" / "test-ledger.csv")))
    assert [(r["protocol"], r["split"], r["row"]) for r in lines] == [("fer2013-classification", "test",
                                                                      "100% labels: round 0")]
    assert float(lines[0]["accuracy"]) == pytest.approx(float(rows[0][5].rstrip("%")) / 100, abs=5e-5)
    assert "Test scorings of this protocol so far: 1 " in table
    # run again: the finished run is reused (no training, no new look at the test split)
    assert harness.main(["--config", config]) == 0
    assert len(list(csv.DictReader(open(tmp_path / "results" / "test-ledger.csv")))) == 1


def test_rounds_fresh_member_and_ensemble_rows(tmp_path):
    config = study_config(tmp_path, fractions=[0.5], table="semi", selftrain={
        **TINY, "rounds": 1, "fresh": 0.5, "threshold": 0, "mc_passes": 3, "round_epochs": 1})
    assert harness.main(["--config", config]) == 0
    rows = table_rows(tmp_path / "results" / "semi.md", "50%")
    assert [r[1].split(",")[0].split(" (")[0] for r in rows] == [
        "round 0", "round 1", "fresh member", "ensemble: kept round + fresh member"]
    assert rows[0][3] == "0" and int(rows[1][3]) > 0  # pseudo-labels arrive in round 1
    assert all(r[6].endswith("% (3 passes)") for r in rows)


@pytest.mark.slow
def test_the_shipped_config_runs_end_to_end_on_a_tiny_layout(tmp_path):
    shipped = yaml.safe_load(open("benchmarks/configs/semi-supervised-fer2013.yaml"))
    assert shipped["experiment"] == "semi-supervised" and shipped["protocols"] == ["fer2013-classification"]
    # the study's settings, made tiny
    config = study_config(tmp_path, fractions=shipped["fractions"], table=shipped["table"], selftrain={
        **shipped["selftrain"], **TINY, "round_epochs": 1, "rounds": 1, "threshold": 0, "mc_passes": 3})
    assert harness.main(["--config", config]) == 0
    table = (tmp_path / "results" / "semi-supervised-fer2013.md").read_text()
    models = [line.split("|")[2].strip() for line in table.splitlines() if line.startswith(("| 25% |", "| 100% |"))]
    assert [m.removesuffix(", kept") for m in models] == [
        "round 0 (supervised only)", "round 1", "fresh member (50% of the labels)",
        "ensemble: kept round + fresh member", "round 0 (supervised only)"]
    assert sum(m.endswith(", kept") for m in models[:2]) == 1 and models[4].endswith(", kept")
    args = yaml.safe_load((tmp_path / "runs" / "fer2013-classification-labelled-0.25" / "args.yaml").read_text())
    assert (args["rehearsal"], args["fresh"], args["round_lr_decay"], args["epochs"]) == ("all", 0.5, 0.5, 1)
    assert args["backbone_options"] == {"width": 0.125}


@pytest.mark.parametrize("settings, message", [
    ({"fractions": [1], "epochs": 3}, r"study.yaml: unknown key 'epochs'; a semi-supervised config has the keys "),
    ({"fractions": [0]}, r"study.yaml: fractions must be a list of labelled shares in \(0, 1\], e.g. \[0.25, 1\]; "
                         r"got \[0\]"),
    ({"fractions": [1], "selftrain": {"labelled_fraction": 0.5}},
     r"selftrain setting 'labelled_fraction' comes from the protocol and fractions"),
    ({"fractions": [1], "selftrain": {"epochs": -1}}, r"epochs"),
    ({"fractions": [1], "protocols": ["fer2013-unseen"]},
     r"protocol 'fer2013-unseen' is not a classification protocol"),
    ({"fractions": [1], "experiment": "semi"},
     r"experiment must be one of semi-supervised, speed \(or absent for a table of rows\), got 'semi'"),
])
def test_a_study_config_it_cannot_run_is_refused_in_one_sentence(tmp_path, settings, message):
    with pytest.raises(ValueError, match=message):
        harness.main(["--config", study_config(tmp_path, **settings)])
