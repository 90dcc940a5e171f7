"""What every training command (``train``, ``pretrain``) shares about its data: the flags, loading
the training and validation splits, and the fixed validation episodes of a run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Callable

from episodes import FixedEpisodes

from .data import DATASETS, FaceDataset, add_loader_arguments, create_dataset, loader_options
from .data.transforms import NORMALIZATION_HELP, NORMALIZATIONS, input_normalization
from .labels import parse_classes

VAL_SEED_OFFSET = 10_007  # validation episodes come from their own stream of the seed


def add_data_arguments(p: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    d = p.add_argument_group("data")
    d.add_argument("--dataset", default="synthetic-basic",
                   help=f"training dataset: {', '.join(DATASETS.names())}; several sources as a,b (one --data-root "
                        f"folder each, comma-separated)")
    d.add_argument("--val-dataset", default=None,
                   help="validation dataset (its 'val' split); default: synthetic-compound when training "
                        "on synthetic-basic, otherwise the training dataset")
    d.add_argument("--data-root", default=None, help="folder of the dataset as unpacked (unused for synthetic)")
    d.add_argument("--val-data-root", default=None,
                   help="folder of the validation dataset (default: --data-root; set it when --val-dataset "
                        "is another real dataset)")
    d.add_argument("--classes", default=None, help="comma-separated training classes (default: all)")
    d.add_argument("--val-classes", default=None, help="comma-separated validation classes (default: all)")
    add_loader_arguments(d)
    add_input_arguments(d)
    return d


def add_input_arguments(group: argparse._ArgumentGroup) -> None:
    """How faces are fed to the model: size, channels, normalisation (stored in the checkpoint)."""
    group.add_argument("--image-size", type=int, default=48, help="faces are resized to this many pixels square")
    group.add_argument("--channels", type=int, default=1, choices=(1, 3), help="1 grayscale, 3 RGB")
    group.add_argument("--normalization", default="half", choices=tuple(NORMALIZATIONS), help=NORMALIZATION_HELP)


def input_config(settings: dict[str, Any]) -> dict[str, Any]:
    """``model_config`` keywords of the input format: mean and std of ``--normalization``."""
    mean, std = input_normalization(settings.get("normalization", "half"), settings["channels"])
    return {"mean": mean, "std": std}


def default_val_dataset(settings: dict[str, Any]) -> None:
    if settings["val_dataset"] is None:
        settings["val_dataset"] = ("synthetic-compound" if settings["dataset"] == "synthetic-basic"
                                   else settings["dataset"])


def load_data(settings: dict[str, Any]) -> tuple[FaceDataset, FaceDataset]:
    """The training split of ``--dataset`` and the validation split of ``--val-dataset``."""
    size = {"image_size": settings["image_size"], "channels": settings["channels"]}
    train_set = create_dataset(settings["dataset"], "train", settings["data_root"],
                               classes=parse_classes(settings["classes"]), **size,
                               **loader_options(settings, settings["dataset"]))
    val_set = create_dataset(settings["val_dataset"], "val", settings.get("val_data_root") or settings["data_root"],
                             classes=parse_classes(settings["val_classes"]), **size,
                             **loader_options(settings, settings["val_dataset"]))
    return train_set, val_set


def validation_sampler(settings: dict[str, Any], val_set: FaceDataset, log: Callable[[str], None] = print):
    """The sampler of the run's fixed validation episodes; lowers ``settings["val_query"]`` (with a
    note) when the smallest validation class cannot fill it."""
    settings["val_query"] = val_set.fit_query(settings["val_shot"], settings["val_query"], "validation", log)
    return val_set.episode_sampler(settings["val_way"], settings["val_shot"], settings["val_query"], "validation",
                                   seed=settings["seed"] + VAL_SEED_OFFSET, n_episodes=settings["val_episodes"])


def save_val_episodes(sampler, val_set: FaceDataset, run_dir: Path) -> None:
    FixedEpisodes.sample(sampler, val_set.keys, meta={"dataset": val_set.name, "split": val_set.split}).save(
        run_dir / "val_episodes.json")


def load_val_episodes(run_dir: Path, val_set: FaceDataset) -> list[list[int]]:
    return FixedEpisodes.load(run_dir / "val_episodes.json").indices(val_set.keys)
