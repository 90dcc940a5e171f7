"""The input format a model is fed with (size, channels, normalisation): golden values, a train ->
evaluate round trip with RGB ImageNet normalisation, and a protocol that fixes it for a harness."""

import json

import pytest
import torch

from benchmarks import run as harness
from fewshot_fer.commands import evaluate, train
from fewshot_fer.data.transforms import input_normalization, to_model_input
from fewshot_fer.weights import load_checkpoint


def test_per_channel_normalisation_by_hand():
    x = torch.tensor([[[[255]], [[0]], [[51]]]], dtype=torch.uint8)  # one RGB pixel: 1.0, 0.0, 0.2
    out = to_model_input(x, [0.5, 0.25, 0.2], [0.5, 0.25, 0.1])
    assert torch.allclose(out.flatten(), torch.tensor([1.0, -1.0, 0.0]))
    assert torch.allclose(to_model_input(x[:, :1], 0.5, 0.5).flatten(), torch.tensor([1.0]))
    assert input_normalization("imagenet", 3) == ([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    assert input_normalization("imagenet", 1) == (0.449, 0.226)  # greyscale: the averages
    assert input_normalization("half", 1) == (0.5, 0.5)
    with pytest.raises(ValueError, match="--normalization must be one of half, imagenet, got 'zca'"):
        input_normalization("zca", 1)


def test_rgb_imagenet_run_stores_its_format_and_evaluates_with_it(tmp_path):
    assert train.main(["--image-size", "24", "--channels", "3", "--normalization", "imagenet", "--way", "3",
                       "--shot", "2", "--query", "3", "--episodes-per-epoch", "2", "--val-episodes", "2",
                       "--epochs", "1", "--output", str(tmp_path), "--name", "rgb"]) == 0
    config = load_checkpoint(tmp_path / "rgb" / "best.pt")["model_config"]
    assert (config["in_chans"], config["mean"], config["std"]) == (3, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    assert evaluate.main(["--checkpoint", str(tmp_path / "rgb" / "best.pt"), "--dataset", "synthetic-compound",
                          "--way", "3", "--shot", "2", "--query", "3", "--episodes", "3",
                          "--output", str(tmp_path / "ev")]) == 0
    assert 0 <= json.loads((tmp_path / "ev" / "summary.json").read_text())["shots"]["2"]["accuracy"] <= 1


def test_a_protocol_fixes_the_input_format_of_every_stage():
    protocol = {"name": "notes", "source": {"dataset": "synthetic-basic"},
                "select": {"dataset": "synthetic-compound", "split": "val"},
                "target": {"dataset": "synthetic-compound", "split": "test"}, "unseen": True,
                "train": {"way": 3, "shot": 5, "query": 5}, "eval": {"way": 4, "shot": 5, "query": 1, "episodes": 100},
                "input": {"image_size": 84, "channels": 3, "normalization": "imagenet"}}
    config = {"train": {"image_size": 48, "epochs": 2}}
    for spec in ({"name": "p", "learner": "protonet"}, {"name": "s", "pretrain": []}, {"name": "c", "selftrain": []}):
        _, _, settings, _ = harness.stage_settings(spec, protocol, config, {}, {})
        assert (settings["image_size"], settings["channels"], settings["normalization"]) == (84, 3, "imagenet"), spec
        assert settings["dataset"] == "synthetic-basic" and (spec["name"] == "c" or settings["val_way"] == 4)
    assert harness.untrained_name("conv4", harness.protocol_settings(protocol, config)) == \
        "untrained-conv4-84px-3ch-imagenet-seed0.pt"
    protocol["input"] = {"size": 84}
    with pytest.raises(ValueError, match=r"protocol 'notes': input keys \['size'\] are not among"):
        harness.protocol_settings(protocol, config)
