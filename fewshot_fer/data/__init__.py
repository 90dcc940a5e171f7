"""Datasets by name: every loader returns a ``FaceDataset`` of decoded uint8 faces."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import torch

# importing a loader module registers its dataset (catalog.register_dataset where it is defined)
from . import afew, ckplus, fer2013, ferplus, folder, jaffe, rafdb, synthetic  # noqa: F401
from .base import FaceDataset
from .catalog import (
    DATASETS,
    SPLITS,
    add_loader_arguments,
    dataset_info,
    dataset_splits,
    is_video,
    loader_options,
    refuse_inapplicable,
    sources,
)
from .unlabeled import UnlabeledFaces, load_unlabeled


def create_dataset(name: str, split: str = "train", data_root: str | Path | None = None,
                   image_size: int = 48, channels: int = 1, classes: Sequence[str] | None = None,
                   cache_dir: str | Path | None = None, strict: bool = False, **options: Any) -> FaceDataset:
    """Load dataset ``name``'s ``split`` as decoded ``[N, channels, image_size, image_size]`` faces,
    keeping only ``classes`` (canonical names) when given. The synthetic datasets ignore
    ``data_root``. Real images are decoded once into ``cache_dir``; unreadable ones are skipped
    with a warning, or stop the load with ``strict``. ``options`` are the dataset's own reading
    options (``dataset_info(name).options``: ``clip_frames`` for afew, ``face_detector`` and
    ``align`` for afew, ckplus, jaffe and folder, ``subject_regex`` for folder, ``peak_frames`` and
    ``neutral_first`` for ckplus); ``None`` keeps the loader's default, and an option the dataset
    does not take is refused with a sentence that names it.

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
    refuse_inapplicable(options, name)  # also refuses an unknown dataset name
    options = {k: v for k, v in options.items() if v is not None}
    if "," in name:
        names = sources(name)
        roots = str(data_root).split(",") if data_root else [""] * len(names)
        if len(roots) != len(names):
            raise ValueError(f"--dataset {name} names {len(names)} sources but --data-root gives {len(roots)} "
                             f"folders ({data_root!r}); give one per source, comma-separated, in the same order.")
        parts = [create_dataset(source, split, root.strip() or None, image_size, channels, cache_dir=cache_dir,
                                strict=strict, **loader_options(options, source))
                 for source, root in zip(names, roots)]
        dataset = concatenate(parts, split, name=",".join(names), prefix_keys=True)
        return dataset.subset(list(classes)) if classes else dataset
    root = Path(data_root).expanduser() if data_root else None
    info = dataset_info(name)
    joined = split == "all" and not info.reads_all  # every labelled split, as one
    parts = [info.loader(s, root, image_size, channels, cache_dir=cache_dir, strict=strict, **options)
             for s in (info.splits if joined else [split])]
    dataset = concatenate(parts, "all") if joined else parts[0]
    return dataset.subset(list(classes)) if classes else dataset


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


__all__ = ["DATASETS", "FaceDataset", "SPLITS", "UnlabeledFaces", "add_loader_arguments", "create_dataset",
           "dataset_info", "dataset_splits", "is_video", "load_unlabeled", "loader_options"]
