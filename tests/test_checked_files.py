"""The checking boundary for files the toolkit reads and numbers that size work: exact sentences
for YAML, episodes files, an exported model's config.json, fer2013.csv rows, bounds checked
before work, a diverging run, and an export that fails half-way."""

import json
import math
from unittest import mock

import pytest
import torch

from benchmarks.faults import fixtures as fx
from benchmarks.faults.boundaries import exported
from benchmarks.faults.runner import error_sentence, invoke
from episodes import FixedEpisodes
from fewshot_fer.limits import check_limits
from fewshot_fer.training.divergence import Diverged, check_loss, check_weights
from fewshot_fer.yamlio import parse_yaml, read_yaml


def test_yaml_aliases_tags_and_size_are_refused_in_one_short_sentence(tmp_path):
    bomb = "a: &a [x, x]\nb: [*a, *a]\n"
    with pytest.raises(ValueError, match=r"^f\.yaml is not valid YAML: an alias \(\*a\) at line 2, column 5; "
                                         r"settings files may not use aliases\.$"):
        parse_yaml(bomb, "f.yaml")
    with pytest.raises(ValueError, match=r"^f\.yaml is not valid YAML \(line 1, column 4\): could not determine a "
                                         r"constructor for the tag"):
        parse_yaml("a: !!python/object/apply:os.system ['true']\n", "f.yaml")
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * 1_000_001)
    with pytest.raises(ValueError, match=r"^config file \S+big\.yaml is 1,000,004 bytes, more than the 1,000,000"):
        read_yaml(big, "config file")
    assert parse_yaml("a: [1, 2]\nb: {c: d}\n", "f.yaml") == {"a": [1, 2], "b": {"c": "d"}}
    with pytest.raises(ValueError) as err:  # a character YAML refuses: its reader's message has two lines
        parse_yaml("epochs: 1\n\x18\n", "f.yaml")
    assert "\n" not in str(err.value) and "unacceptable character #x0018" in str(err.value)


def test_a_config_value_is_quoted_as_a_short_excerpt(tmp_path):
    (tmp_path / "c.yaml").write_text("lr: [" + ", ".join(["1"] * 5000) + "]\n")
    out = invoke(["train", "--config", str(tmp_path / "c.yaml")])
    sentence = error_sentence(out.stderr)
    assert out.code == 2 and len(sentence) < 300 and len(out.stderr) < 5000, out.stderr
    assert "lr (--lr) takes one value, got [1, 1, 1" in sentence and "..." in sentence


def test_numbers_that_size_work_are_bounded_by_one_table():
    check_limits({"episodes": 100_000, "seed": 0, "workers": 0, "image_size": 1024})
    for settings, sentence in (({"episodes": 100_001}, "--episodes must be at most 100,000, got 100,001."),
                               ({"seed": 10**30}, f"--seed must be at most 4,294,967,295, got {10**30:,}."),
                               ({"workers": -1}, "--workers must be from 0 to 256, got -1."),
                               ({"clip_frames": 5000}, "--clip-frames must be at most 1,000, got 5,000.")):
        with pytest.raises(ValueError, match="^" + sentence.replace(".", r"\.").replace("+", r"\+") + "$"):
            check_limits(settings)


def test_a_non_finite_loss_or_weight_stops_with_a_sentence():
    check_loss(0.7, "epoch 1, episode 1")
    with pytest.raises(Diverged, match=r"^loss became NaN at epoch 2, episode 5; lower --lr"):
        check_loss(math.nan, "epoch 2, episode 5")
    with pytest.raises(Diverged, match=r"^loss became inf at epoch 1, batch 3; lower --lr"):
        check_loss(math.inf, "epoch 1, batch 3")
    check_weights({"w": torch.ones(2), "steps": torch.tensor(3)}, "the end of epoch 1")
    with pytest.raises(Diverged, match=r"weights became NaN or infinite by the end of epoch 1 \(first: b\)"):
        check_weights({"a": torch.ones(2), "b": torch.tensor([1.0, math.inf])}, "the end of epoch 1")


def test_lr_1e30_stops_training_and_leaves_no_non_finite_checkpoint(tmp_path):
    from fewshot_fer.weights import load_checkpoint

    out = invoke(["train", *fx.TINY_TRAIN, "--lr", "1e30", "--output", str(tmp_path), "--name", "r"])
    assert out.code == 2 and "lower --lr" in out.stderr, out.stderr
    for path in (tmp_path / "r").glob("*.pt"):
        assert all(torch.isfinite(v).all() for v in load_checkpoint(path)["model"].values() if v.is_floating_point())
    assert not (tmp_path / "r" / "best.pt").exists()


def test_an_episodes_file_is_checked_key_by_key(tmp_path):
    path = tmp_path / "e.json"
    good = {"format": "fewshot-episodes/1", "n_way": 2, "k_shot": 1, "n_query": 1, "meta": {},
            "episodes": [["a", "b", "c", "d"]]}
    path.write_text(json.dumps(good))
    assert len(FixedEpisodes.load(path)) == 1
    for change, sentence in (({"n_way": True}, "key n_way must be a whole number from 1 to 1000, got True."),
                             ({"k_shot": 10**9}, "key k_shot must be a whole number from 1 to 1000, got 1000000000."),
                             ({"episodes": []}, "key episodes must be a list of 1 to 100,000 episodes, got []."),
                             ({"episodes": [["a"]]}, "episode 0 must be a list of n_way * (k_shot + n_query) = 4 "
                                                     "item keys, got ['a'].")):
        path.write_text(json.dumps({**good, **change}))
        with pytest.raises(ValueError) as err:
            FixedEpisodes.load(path)
        assert str(err.value) == f"episodes file {path}: {sentence}"
    path.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match="nested too deeply"):
        FixedEpisodes.load(path)


def test_a_model_folder_is_replaced_whole_or_not_at_all(tmp_path):
    from safetensors.torch import save

    model = exported(tmp_path)
    before = {p.name: p.read_bytes() for p in model.iterdir()}

    def full_disk_on_the_support_file(tensors, *args, **kwargs):
        if "support_x" in tensors:
            raise OSError(28, "No space left on device", "support.safetensors")
        return save(tensors, *args, **kwargs)

    with mock.patch("safetensors.torch.save", full_disk_on_the_support_file):
        out = invoke(["export", "--checkpoint", str(fx.tiny_run() / "best.pt"), "--support",
                      str(fx.support(tmp_path / "other", ("x", "y"))), "--out", str(model), "--reject-rate", "0"])
    assert out.code == 2 and "no space left on device" in out.stderr
    assert {p.name: p.read_bytes() for p in model.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # no temporary folder left
    out = invoke(["export", "--checkpoint", str(fx.tiny_run() / "best.pt"), "--support",
                  str(fx.support(tmp_path / "other", ("x", "y"))), "--out", str(model), "--reject-rate", "0"])
    assert out.code == 0, out.stderr
    assert json.loads((model / "config.json").read_text())["class_names"] == ["x", "y"]


def test_a_cascade_named_at_export_travels_inside_the_model_folder(tmp_path):
    cv2 = pytest.importorskip("cv2")
    import shutil
    from pathlib import Path

    from conftest import shared_data

    photos = sorted(shared_data("photos").glob("*.jpg"))
    for name, photo in zip(("a", "b"), photos):
        (tmp_path / "s" / name).mkdir(parents=True)
        shutil.copy(photo, tmp_path / "s" / name / photo.name)
    cascade = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
    out = invoke(["export", "--checkpoint", str(fx.tiny_run() / "best.pt"), "--support", str(tmp_path / "s"),
                  "--out", str(tmp_path / "m"), "--reject-rate", "0", "--detect-faces", "--face-detector", str(cascade)])
    assert out.code == 0, out.stderr
    info = json.loads((tmp_path / "m" / "config.json").read_text())
    assert info["preprocessing"]["face_detector"] == "face_detector.xml"
    assert (tmp_path / "m" / "face_detector.xml").read_bytes() == cascade.read_bytes()
    out = invoke(["predict", "--model", str(tmp_path / "m"), "--input", str(photos[2]), "--output",
                  str(tmp_path / "p.csv")])
    assert out.code == 0, out.stderr
    assert "inputs are cropped as the exported support faces were: --detect-faces" in out.stdout


@pytest.mark.parametrize("row, sentence", [
    ("3,1 2,PrivateTest", "line 3: pixels must be 2304 whole numbers (48x48), got 2 values ('1 2')."),
    ("9,{good},PrivateTest", "line 3: emotion must be one of [0, 1, 2, 3, 4, 5, 6], got '9'."),
    ("3,{bright},PrivateTest", "line 3: pixels must be grey values from 0 to 255, got 300."),
    ("3,PrivateTest", "line 3 has 2 columns, expected 3 (emotion, pixels, Usage)."),
])
def test_a_bad_fer2013_csv_row_is_named_by_line_and_column(tmp_path, row, sentence):
    from fewshot_fer.data.fer2013_csv import parse_fer2013_csv

    good = " ".join(["1"] * 2304)
    bright = " ".join(["1"] * 2303 + ["300"])
    path = tmp_path / "fer2013.csv"
    path.write_text(f"emotion,pixels,Usage\n0,{good},PrivateTest\n{row.format(good=good, bright=bright)}\n")
    with pytest.raises(ValueError) as err:
        parse_fer2013_csv(path, "test", 48, 1)
    assert str(err.value) == f"{path} {sentence}"


def test_a_bad_ferplus_row_is_named_by_line(tmp_path):
    from fewshot_fer.data.ferplus import VOTE_COLUMNS, read_votes

    path = tmp_path / "fer2013new.csv"
    header = "Usage,Image name," + ",".join(VOTE_COLUMNS)
    path.write_text(f"{header}\nPrivateTest,fer0000001.png,10,0,0,0,0,0,0,0,0,0\n")
    assert read_votes(path, "test") == {0: ("fer0000001.png", "neutral")}
    for row, sentence in (("PrivateTest,fer0000002.png,1,2", "line 3 has 4 columns, expected 12 (Usage, Image name "
                                                              "and 10 vote counts)."),
                          ("PrivateTest,fer0000002.png,inf,0,0,0,0,0,0,0,0,0",
                           "line 3 has vote counts ['inf', '0', '0', '0', '0', '0', '0', '0', '0', '0']; expected "
                           "whole numbers of 0 or more.")):
        path.write_text(f"{header}\nPrivateTest,fer0000001.png,10,0,0,0,0,0,0,0,0,0\n{row}\n")
        with pytest.raises(ValueError) as err:
            read_votes(path, "test")
        assert str(err.value) == f"{path} {sentence}"
