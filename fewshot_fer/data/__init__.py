"""Datasets by name: every loader returns a ``FaceDataset`` of decoded uint8 faces."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from ..registry import Registry
from .afew import load_afew
from .ckplus import load_ckplus
from .base import FaceDataset
from .fer2013 import load_fer2013
from .ferplus import load_ferplus
from .folder import load_folder
from .jaffe import load_jaffe
from .rafdb import load_rafdb
from .synthetic import make_synthetic
from .unlabeled import UnlabeledFaces, load_unlabeled

DATASETS: Registry = Registry("dataset")
SPLITS = ("train", "val", "test")
LABELLED_SPLITS = {"afew": ("train", "val")}  # datasets whose test split has no public labels


def dataset_splits(name: str) -> tuple[str, ...]:
    """The splits of dataset ``name`` that have labels."""
    return LABELLED_SPLITS.get(name, SPLITS)


@DATASETS.register("synthetic-basic")
def synthetic_basic(split: str, data_root: Path | None, image_size: int, channels: int, **_) -> FaceDataset:
    return make_synthetic("basic", split, image_size, channels)


@DATASETS.register("synthetic-compound")
def synthetic_compound(split: str, data_root: Path | None, image_size: int, channels: int, **_) -> FaceDataset:
    return make_synthetic("compound", split, image_size, channels)


@DATASETS.register("fer2013")
def fer2013(split: str, data_root: Path | None, image_size: int, channels: int, **options) -> FaceDataset:
    return load_fer2013(split, data_root, image_size, channels, **options)


@DATASETS.register("ferplus")
def ferplus(split: str, data_root: Path | None, image_size: int, channels: int, **options) -> FaceDataset:
    return load_ferplus(split, data_root, image_size, channels, **options)


@DATASETS.register("rafdb-basic")
def rafdb_basic(split: str, data_root: Path | None, image_size: int, channels: int, **options) -> FaceDataset:
    return load_rafdb("basic", split, data_root, image_size, channels, **options)


@DATASETS.register("rafdb-compound")
def rafdb_compound(split: str, data_root: Path | None, image_size: int, channels: int, **options) -> FaceDataset:
    return load_rafdb("compound", split, data_root, image_size, channels, **options)


@DATASETS.register("afew")
def afew(split: str, data_root: Path | None, image_size: int, channels: int, **options) -> FaceDataset:
    return load_afew(split, data_root, image_size, channels, **options)


@DATASETS.register("folder")
def folder(split: str, data_root: Path | None, image_size: int, channels: int, **options) -> FaceDataset:
    return load_folder(split, data_root, image_size, channels, **options)


@DATASETS.register("ckplus")
def ckplus(split: str, data_root: Path | None, image_size: int, channels: int, **options) -> FaceDataset:
    return load_ckplus(split, data_root, image_size, channels, **options)


@DATASETS.register("jaffe")
def jaffe(split: str, data_root: Path | None, image_size: int, channels: int, **options) -> FaceDataset:
    return load_jaffe(split, data_root, image_size, channels, **options)


def add_loader_arguments(group: argparse._ActionsContainer) -> None:
    """The flags that say how real datasets are read, shared by every command."""
    group.add_argument("--cache-dir", default=None,
                       help="where decoded images and face crops are cached "
                            "(default: $FEWSHOT_FER_CACHE or ~/.cache/fewshot-fer)")
    group.add_argument("--strict", action="store_true",
                       help="stop at the first unreadable image or clip instead of skipping it")
    group.add_argument("--subject-regex", default=None,
                       help="folder dataset: regular expression whose first group is the subject id in a "
                            "file name (CK+: '^(S\\d+)_'), so support and query never share a subject")
    group.add_argument("--clip-frames", type=int, default=8, help="afew: frames sampled evenly from each clip")
    group.add_argument("--face-detector", default=None,
                       help="'haar' (OpenCV's bundled frontal-face cascade), 'mtcnn' (facenet-pytorch's MTCNN with "
                            "five landmarks; finds faces turned further), a cascade XML file, or 'none' (images "
                            "already face crops); default: haar for afew, ckplus (native frames) and jaffe, none for "
                            "folder")
    group.add_argument("--align", action="store_true",
                       help="afew, ckplus, jaffe, folder: rotate and scale each face so its landmarks sit at fixed "
                            "points: with --face-detector mtcnn its five points (least squares), otherwise the two eyes "
                            "(OpenCV's bundled Haar eye cascade; faces whose two eyes are not found stay unaligned "
                            "and are counted)")
    group.add_argument("--peak-frames", type=int, default=3,
                       help="ckplus: the last frames of each labelled sequence that take its label")
    group.add_argument("--neutral-first", action="store_true",
                       help="ckplus: also use the first frame of each labelled sequence as a neutral face")


LOADER_OPTIONS = {"cache_dir": None, "strict": None, "subject_regex": ("folder",), "clip_frames": ("afew",),
                  "face_detector": ("afew", "ckplus", "jaffe", "folder"), "align": ("afew", "ckplus", "jaffe", "folder"),
                  "peak_frames": ("ckplus",),
                  "neutral_first": ("ckplus",)}  # option -> datasets it applies to


def loader_options(settings: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The ``create_dataset`` keyword arguments in ``settings`` that apply to dataset ``name`` (or,
    for several sources ``a,b``, to any of them; missing ones keep their defaults)."""
    sources = name.split(",")
    return {k: settings[k] for k, names in LOADER_OPTIONS.items()
            if settings.get(k) is not None and (names is None or any(n in names for n in sources))}


def create_dataset(name: str, split: str = "train", data_root: str | Path | None = None,
                   image_size: int = 48, channels: int = 1, classes: Sequence[str] | None = None,
                   cache_dir: str | Path | None = None, strict: bool = False,
                   subject_regex: str | None = None, clip_frames: int = 8,
                   face_detector: str | None = None, peak_frames: int = 3, neutral_first: bool = False,
                   align: bool = False) -> FaceDataset:
    """Load dataset ``name``'s ``split`` as decoded ``[N, channels, image_size, image_size]`` faces,
    keeping only ``classes`` (canonical names) when given. The synthetic datasets ignore
    ``data_root``. Real images are decoded once into ``cache_dir``; unreadable ones are skipped
    with a warning, or stop the load with ``strict``. ``subject_regex`` (folder dataset) turns a
    file name into a subject id. ``clip_frames`` applies to video (afew); ``face_detector`` (``None``:
    the loader's default, ``haar`` for afew, ckplus and jaffe, ``none`` for folder) and ``align`` to
    afew, ckplus, jaffe and folder; ``peak_frames`` and ``neutral_first`` to ckplus.

    Several sources in one: ``name="fer2013,folder"`` with ``data_root="../fer2013,../lfw"`` (one
    root per source, in order; empty for a synthetic one) joins their ``split`` under the union of
    their canonical class names; each option goes to the sources it applies to; keys are prefixed
    with the source (``fer2013:train/...``) and group ids kept apart per source."""
    if split not in (*SPLITS, "all"):
        raise ValueError(f"split must be one of {', '.join(SPLITS)} or all, got {split!r}.")
    if image_size < 16:
        raise ValueError(f"image_size must be at least 16 pixels, got {image_size}.")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}.")
    options = {"cache_dir": cache_dir, "strict": strict, "subject_regex": subject_regex, "clip_frames": clip_frames,
               "face_detector": face_detector, "peak_frames": peak_frames, "neutral_first": neutral_first,
               "align": align}
    if "," in name:
        sources = [n.strip() for n in name.split(",")]
        roots = str(data_root).split(",") if data_root else [""] * len(sources)
        if len(roots) != len(sources):
            raise ValueError(f"--dataset {name} names {len(sources)} sources but --data-root gives {len(roots)} "
                             f"folders ({data_root!r}); give one per source, comma-separated, in the same order.")
        for source in sources:
            DATASETS.get(source)  # an unknown name is refused before anything loads
        if subject_regex and "folder" not in sources:
            raise ValueError(f"--subject-regex applies to the folder dataset, which {name!r} does not include.")
        parts = [create_dataset(source, split, root.strip() or None, image_size, channels,
                                **loader_options(options, source)) for source, root in zip(sources, roots)]
        dataset = concatenate(parts, split, name=",".join(sources), prefix_keys=True)
        return dataset.subset(list(classes)) if classes else dataset
    root = Path(data_root).expanduser() if data_root else None
    if subject_regex and name != "folder":
        raise ValueError(f"--subject-regex applies to the folder dataset, not {name!r}.")
    applicable = {k: v for k, v in options.items()  # every dataset takes the cache and strictness options
                  if LOADER_OPTIONS[k] is None or (name in LOADER_OPTIONS[k] and v is not None)}
    loader = DATASETS.get(name)
    if split == "all" and name not in NATIVE_ALL:
        dataset = concatenate([loader(s, root, image_size, channels, **applicable) for s in dataset_splits(name)], "all")
    else:
        dataset = loader(split, root, image_size, channels, **applicable)
    return dataset.subset(list(classes)) if classes else dataset


NATIVE_ALL = {"folder", "ckplus", "jaffe"}  # loaders that read split "all" themselves (one subject id space over the whole tree)


def concatenate(parts: Sequence[FaceDataset], split: str, name: str | None = None,
                prefix_keys: bool = False) -> FaceDataset:
    """Several datasets (or splits of one) as one, named ``name`` (default the first part's) and
    ``split``: classes are the union of their canonical names (first-seen order), labels are
    re-indexed, group ids are kept apart per part (a part without groups gives each face its own),
    and with ``prefix_keys`` each key starts with its part's name."""
    names = list(dict.fromkeys(n for p in parts for n in p.class_names))
    labels = [torch.tensor([names.index(n) for n in p.class_names], dtype=torch.long)[p.labels] for p in parts]
    groups = None
    if any(p.groups is not None for p in parts):
        offset, shifted = 0, []
        for p in parts:
            g = p.groups if p.groups is not None else torch.arange(len(p))
            shifted.append(g + offset)
            offset += int(g.max()) + 1 if len(g) else 0
        groups = torch.cat(shifted)
    keys = [f"{p.name}:{k}" if prefix_keys else k for p in parts for k in p.keys]
    return FaceDataset(torch.cat([p.images for p in parts]), torch.cat(labels), names, keys, groups,
                       name=name or parts[0].name, split=split)


__all__ = ["DATASETS", "FaceDataset", "SPLITS", "dataset_splits", "UnlabeledFaces", "add_loader_arguments", "create_dataset",
           "load_unlabeled", "loader_options"]
