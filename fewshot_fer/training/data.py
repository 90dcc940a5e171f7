"""What every training command (``train``, ``pretrain``) shares about its data: loading the
training and validation splits (or the ``FaceDataset`` objects given from Python), and the fixed
validation episodes of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from episodes import FixedEpisodes

from ..data import FaceDataset, create_dataset, loader_options
from ..data.catalog import GIVEN
from ..data.transforms import input_normalization
from ..labels import parse_classes

VAL_SEED_OFFSET = 10_007  # validation episodes come from their own stream of the seed


def input_config(settings: dict[str, Any]) -> dict[str, Any]:
    """``model_config`` keywords of the input format: mean and std of ``--normalization``."""
    mean, std = input_normalization(settings.get("normalization", "half"), settings["channels"])
    return {"mean": mean, "std": std}


def load_data(settings: dict[str, Any], given: tuple[FaceDataset, FaceDataset] | None = None
              ) -> tuple[FaceDataset, FaceDataset]:
    """The training split of ``--dataset`` and the validation split of ``--val-dataset``; or
    ``given``, the (training, validation) ``FaceDataset`` objects of ``fewshot_fer.api.train``."""
    if given is not None:
        return given
    if settings["dataset"].startswith(GIVEN):
        raise ValueError(f"this run was trained on datasets given from Python ({settings['dataset']}, "
                         f"{settings['val_dataset']}); resume it from Python with the same objects: "
                         f"fewshot_fer.api.train(resume=..., train_set=..., val_set=...).")
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
