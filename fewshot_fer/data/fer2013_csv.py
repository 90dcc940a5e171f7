"""FER2013 as a CSV: ``fer2013.csv`` (``emotion,pixels,Usage``) or ``icml_face_data.csv``
(``emotion, Usage, pixels``, with leading spaces). ``pixels`` holds 2,304 grey values (48x48)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..labels import BASIC, FER2013_IDS
from .base import FaceDataset
from .cache import file_signature, read_entry, write_entry

CSV_NAMES = ("fer2013.csv", "icml_face_data.csv")
USAGE_SPLIT = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}


def find_csv(root: Path) -> Path | None:
    if root.is_file() and root.suffix.lower() == ".csv":
        return root
    return next((root / n for n in CSV_NAMES if (root / n).is_file()), None)


def load_fer2013_csv(path: Path, split: str, image_size: int, channels: int,
                     cache_dir: str | Path | None = None) -> FaceDataset:
    """The rows of ``split``, parsed once and then read from the cache (keyed by the file)."""
    key = file_signature([path], "fer2013-csv", split, image_size, channels)
    cached = read_entry(key, cache_dir)
    if cached is None:
        dataset = parse_fer2013_csv(path, split, image_size, channels)
        write_entry(key, dataset.images.numpy(), {"labels": dataset.labels.tolist(), "keys": dataset.keys}, cache_dir)
        return dataset
    images, meta = cached
    return FaceDataset(torch.from_numpy(images), meta["labels"], BASIC, meta["keys"], None, "fer2013", split)


def parse_fer2013_csv(path: Path, split: str, image_size: int, channels: int) -> FaceDataset:
    images, labels, keys = [], [], []
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        if not {"emotion", "pixels", "Usage"} <= set(header):
            raise ValueError(f"{path} has header {header}; expected the columns emotion, pixels and Usage "
                             f"(fer2013.csv or icml_face_data.csv).")
        col = {name: header.index(name) for name in ("emotion", "pixels", "Usage")}
        for row_number, row in enumerate(reader):
            if USAGE_SPLIT.get(row[col["Usage"]].strip()) != split:
                continue
            pixels = np.array(row[col["pixels"]].split(), dtype=np.uint8)
            if pixels.size != 48 * 48:
                raise ValueError(f"{path} row {row_number + 2} has {pixels.size} pixel values, expected 2304 (48x48).")
            face = Image.fromarray(pixels.reshape(48, 48))
            if image_size != 48:
                face = face.resize((image_size, image_size), Image.BILINEAR)
            arr = np.asarray(face.convert("L" if channels == 1 else "RGB"))
            images.append(arr[None] if channels == 1 else arr.transpose(2, 0, 1))
            labels.append(BASIC.index(FER2013_IDS[int(row[col["emotion"]])]))
            keys.append(f"row{row_number}")  # position in the CSV, as FER+ keys its labels
    if not images:
        raise ValueError(f"{path} has no rows with Usage for split {split!r} "
                         f"({', '.join(k for k, v in USAGE_SPLIT.items() if v == split)}).")
    return FaceDataset(torch.from_numpy(np.stack(images)), labels, BASIC, keys, None, "fer2013", split)
