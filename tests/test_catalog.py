"""Datasets describe themselves: a loader registered with an option gets its flag on every
command, receives the option, and other datasets refuse it with one sentence."""

import argparse

import pytest
import torch

from fewshot_fer.data import DATASETS, FaceDataset, create_dataset, dataset_splits, is_video, loader_options
from fewshot_fer.data.catalog import DatasetInfo, LoaderOption, add_loader_arguments

SHADE = LoaderOption("shade", "grey level of every face", int, 50)


def shaded(split, root, image_size=48, channels=1, cache_dir=None, strict=False, shade=50):
    images = torch.full((4, channels, image_size, image_size), shade, dtype=torch.uint8)
    return FaceDataset(images, torch.tensor([0, 0, 1, 1]), ["anger", "happiness"], [f"{split}/{i}" for i in range(4)],
                       name="shaded", split=split)


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(DATASETS._factories, "shaded", DatasetInfo("shaded", shaded, (SHADE,), ("train", "val")))


def test_a_registered_option_is_a_flag_routed_to_its_dataset_only(registered):
    parser = argparse.ArgumentParser()
    add_loader_arguments(parser)
    args = parser.parse_args(["--shade", "90"])
    assert "shaded: grey level of every face" in " ".join(parser.format_help().split())
    assert args.shade == 90
    assert loader_options(vars(args), "shaded") == {"shade": 90, "strict": False}
    assert "shade" not in loader_options(vars(args), "synthetic-basic")
    assert "shade" in loader_options(vars(args), "synthetic-basic,shaded")  # several sources: any of them takes it
    data = create_dataset("shaded", "train", image_size=16, shade=90)
    assert int(data.images.max()) == 90 and dataset_splits("shaded") == ("train", "val") and not is_video("shaded")
    both = create_dataset("shaded", "all", image_size=16)  # split all joins the labelled splits
    assert len(both) == 8 and int(both.images.max()) == 50


def test_an_option_the_dataset_does_not_take_is_one_sentence(registered):
    with pytest.raises(ValueError, match=r"^--shade applies to the shaded dataset, not 'synthetic-basic'\.$"):
        create_dataset("synthetic-basic", "train", shade=3)
    with pytest.raises(ValueError, match=r"^--face-detector applies to the afew, ckplus, folder and jaffe datasets"):
        create_dataset("fer2013", "train", face_detector="haar")
    with pytest.raises(ValueError, match=r"^'colour' is not a reading option of any dataset; the options are: "):
        create_dataset("synthetic-basic", "train", colour=1)
    with pytest.raises(ValueError, match=r"^unknown dataset 'nope'; choose one of: afew, "):
        create_dataset("nope", "train")


def test_the_catalogue_knows_each_dataset():
    assert DATASETS.names() == ["afew", "ckplus", "fer2013", "ferplus", "folder", "jaffe", "rafdb-basic",
                                "rafdb-compound", "synthetic-basic", "synthetic-compound"]
    assert is_video("afew") and not is_video("folder") and not is_video("afew,folder")
    assert dataset_splits("afew") == ("train", "val") and dataset_splits("fer2013") == ("train", "val", "test")
    assert dataset_splits("afew,fer2013") == ("train", "val")
    assert {o.name for o in DATASETS.get("ckplus").options} == {"face_detector", "align", "peak_frames", "neutral_first"}
