"""FER2013 as a CSV: ``fer2013.csv`` (``emotion,pixels,Usage``) or ``icml_face_data.csv``
(``emotion, Usage, pixels``, with leading spaces). ``pixels`` holds 2,304 grey values (48x48)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..errors import excerpt
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


def parse_row(emotion: str, pixels: str, path: Path, line: int) -> tuple[int, np.ndarray]:
    """One row's emotion id (0..6) and its 2,304 grey values as uint8 ``[2304]``, or a sentence
    naming the file, the line and the column."""
    if emotion.strip() not in {str(k) for k in FER2013_IDS}:
        raise ValueError(f"{path} line {line}: emotion must be one of {sorted(FER2013_IDS)}, got {excerpt(emotion)}.")
    values = pixels.split()
    if len(values) != 48 * 48 or not all(v.isdigit() for v in values):
        raise ValueError(f"{path} line {line}: pixels must be 2304 whole numbers (48x48), got {len(values)} values "
                         f"({excerpt(pixels[:40])}).")
    grey = np.array(values, dtype=np.int64)
    if grey.max() > 255:
        raise ValueError(f"{path} line {line}: pixels must be grey values from 0 to 255, got {int(grey.max())}.")
    return int(emotion), grey.astype(np.uint8)


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
            if len(row) != len(header):
                raise ValueError(f"{path} line {reader.line_num} has {len(row)} columns, expected {len(header)} "
                                 f"({', '.join(header)}).")
            if USAGE_SPLIT.get(row[col["Usage"]].strip()) != split:
                continue
            emotion, pixels = parse_row(row[col["emotion"]], row[col["pixels"]], path, reader.line_num)
            face = Image.fromarray(pixels.reshape(48, 48))
            if image_size != 48:
                face = face.resize((image_size, image_size), Image.BILINEAR)
            arr = np.asarray(face.convert("L" if channels == 1 else "RGB"))
            images.append(arr[None] if channels == 1 else arr.transpose(2, 0, 1))
            labels.append(BASIC.index(FER2013_IDS[emotion]))
            keys.append(f"row{row_number}")  # position in the CSV, as FER+ keys its labels
    if not images:
        raise ValueError(f"{path} has no rows with Usage for split {split!r} "
                         f"({', '.join(k for k, v in USAGE_SPLIT.items() if v == split)}).")
    return FaceDataset(torch.from_numpy(np.stack(images)), labels, BASIC, keys, None, "fer2013", split)
