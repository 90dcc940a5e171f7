"""Datasets by name: every loader returns a ``FaceDataset`` of decoded uint8 faces."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..registry import Registry
from .base import FaceDataset
from .fer2013 import load_fer2013
from .folder import load_folder
from .synthetic import make_synthetic

DATASETS: Registry = Registry("dataset")
SPLITS = ("train", "val", "test")


@DATASETS.register("synthetic-basic")
def synthetic_basic(split: str, data_root: Path | None, image_size: int, channels: int, **_) -> FaceDataset:
    return make_synthetic("basic", split, image_size, channels)


@DATASETS.register("synthetic-compound")
def synthetic_compound(split: str, data_root: Path | None, image_size: int, channels: int, **_) -> FaceDataset:
    return make_synthetic("compound", split, image_size, channels)


@DATASETS.register("fer2013")
def fer2013(split: str, data_root: Path | None, image_size: int, channels: int, **options) -> FaceDataset:
    return load_fer2013(split, data_root, image_size, channels, **options)


@DATASETS.register("folder")
def folder(split: str, data_root: Path | None, image_size: int, channels: int, **options) -> FaceDataset:
    return load_folder(split, data_root, image_size, channels, **options)


def create_dataset(name: str, split: str = "train", data_root: str | Path | None = None,
                   image_size: int = 48, channels: int = 1, classes: Sequence[str] | None = None,
                   cache_dir: str | Path | None = None, strict: bool = False,
                   subject_regex: str | None = None) -> FaceDataset:
    """Load dataset ``name``'s ``split`` as decoded ``[N, channels, image_size, image_size]`` faces,
    keeping only ``classes`` (canonical names) when given. The synthetic datasets ignore
    ``data_root``. Real images are decoded once into ``cache_dir``; unreadable ones are skipped
    with a warning, or stop the load with ``strict``. ``subject_regex`` (folder dataset) turns a
    file name into a subject id."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}.")
    if image_size < 16:
        raise ValueError(f"image_size must be at least 16 pixels, got {image_size}.")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}.")
    root = Path(data_root).expanduser() if data_root else None
    options = {"cache_dir": cache_dir, "strict": strict}
    if subject_regex:
        if name != "folder":
            raise ValueError(f"--subject-regex applies to the folder dataset, not {name!r}.")
        options["subject_regex"] = subject_regex
    dataset = DATASETS.get(name)(split, root, image_size, channels, **options)
    return dataset.subset(list(classes)) if classes else dataset


__all__ = ["DATASETS", "FaceDataset", "SPLITS", "create_dataset"]
