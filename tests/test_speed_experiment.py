"""The speed comparison, an experiment of the benchmark runner: its settings are checked at the
edge, and (with easyfsl) it measures both toolkits on a tiny FER2013 layout and writes its table."""

import csv

import pytest
import yaml
from layouts import FOLDERS, make_layout, write_face

from benchmarks import run as harness
from benchmarks.speed import SpeedSettings


def speed_config(tmp_path, speed, **keys):
    make_layout(tmp_path / "fer2013")
    config = {"experiment": "speed", "protocols": ["fer2013-classification"],
              "data_roots": {"fer2013": str(tmp_path / "fer2013")}, "speed": speed, "results": str(tmp_path / "out"),
              **keys}
    (tmp_path / "speed.yaml").write_text(yaml.safe_dump(config))
    return str(tmp_path / "speed.yaml")


def test_the_shipped_settings_are_the_defaults():
    shipped = yaml.safe_load(open("benchmarks/configs/speed.yaml"))
    chosen = SpeedSettings.from_mapping(shipped["speed"], "speed.yaml")
    assert chosen == SpeedSettings(threads=chosen.threads)
    assert chosen.sizes == (1000, 10000, None) and chosen.shapes[0] == (5, 1, 15)


@pytest.mark.parametrize("speed, message", [
    ({"repeats": 0}, r"speed.yaml: speed.repeats must be a whole number 1 or more, got 0"),
    ({"train_episodes": 2.5}, r"speed.train_episodes must be a whole number 1 or more, got 2.5"),
    ({"shape": [5, 5]}, r"speed.shape: an episode shape is \[way, shot, query\] such as \[5, 5, 15\], got \[5, 5\]"),
    ({"shape": [1, 5, 15]}, r"an episode needs 2 or more classes, got way 1"),
    ({"shapes": [[5, 1, 15], [5, -1, 15]]}, r"speed.shapes must be a whole number 1 or more, got -1"),
    ({"sizes": ["many"]}, r"speed.sizes must be a whole number 1 or more, got 'many'"),
    ({"easyfsl_workers": -1}, r"speed.easyfsl_workers must be a whole number 0 or more, got -1"),
    ({"repeat": 3}, r"unknown speed setting 'repeat'; expected some of threads, train_repeats, "),
])
def test_a_setting_that_cannot_size_the_work_is_refused_in_one_sentence(tmp_path, speed, message):
    with pytest.raises(ValueError, match=message):
        harness.main(["--config", speed_config(tmp_path, speed)])


def test_a_config_it_cannot_run_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"protocol 'fer2013-unseen' is not a classification protocol"):
        harness.main(["--config", speed_config(tmp_path, {}, protocols=["fer2013-unseen"])])
    with pytest.raises(ValueError, match=r"unknown key 'output'; a speed config has the keys "):
        harness.main(["--config", speed_config(tmp_path, {}, output="x")])
    with pytest.raises(ValueError, match=r"data_roots.fer2013 '.*nowhere' is not the FER2013 folder layout"):
        harness.main(["--config", speed_config(tmp_path, {}, data_roots={"fer2013": str(tmp_path / "nowhere")})])


@pytest.mark.slow
def test_both_toolkits_are_measured_side_by_side_on_a_tiny_layout(tmp_path):
    pytest.importorskip("easyfsl", reason="the speed comparison measures easyfsl: pip install -e '.[bench]'")
    config = speed_config(tmp_path, {"threads": 1, "train_repeats": 1, "repeats": 1, "train_episodes": 2,
                                     "eval_episodes": 2, "shape": [3, 1, 1], "sizes": ["all"], "shapes": [],
                                     "shape_eval_episodes": 2}, table="tiny-speed")
    for c, folder in enumerate(FOLDERS):  # one more test face per class: support and query
        write_face(tmp_path / "fer2013" / "test" / folder / f"PrivateTest_{400 + c}.jpg", 10 * c + 1)
    assert harness.main(["--config", config]) == 0
    table = (tmp_path / "out" / "tiny-speed.md").read_text()
    assert f"Command: `python -m benchmarks.run --config {config}`" in table
    assert "| training, episodes/s (2 timed episodes" in table and "x** |" in table
    rows = list(csv.DictReader(open(tmp_path / "out" / "tiny-speed.csv")))
    headline = {(r["toolkit"], r["task"]) for r in rows if r["table"] == "headline"}
    assert headline == {("fewshot-fer", "train"), ("easyfsl", "train"), ("fewshot-fer", "evaluate"),
                        ("easyfsl", "evaluate")}
    assert all(float(r["seconds"]) > 0 and float(r["peak_rss_mb"]) > 0 for r in rows)
