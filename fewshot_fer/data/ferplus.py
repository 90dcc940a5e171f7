"""FER+: the FER2013 faces relabelled by ten annotators (``fer2013new.csv``).

``fer2013new.csv`` has one row per ``fer2013.csv`` row, in the same order (columns ``Usage,
Image name`` then vote counts for neutral, happiness, surprise, sadness, anger, disgust, fear,
contempt, unknown, NF). The label is the majority vote; rows whose top count is tied, whose
majority is ``unknown`` or ``NF`` (not a face), or whose image name is empty (dropped by the FER+
authors) are excluded. The faces come from ``fer2013.csv`` / ``icml_face_data.csv`` beside it
(joined by row position) or from the FER+ image folders ``FER2013Train/``, ``FER2013Valid/``,
``FER2013Test/`` (joined by image name). Classes: the seven basic expressions and contempt.
"""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from ..errors import excerpt
from ..labels import BASIC, CONTEMPT
from .base import FaceDataset
from .cache import load_images
from .catalog import register_dataset
from .fer2013_csv import USAGE_SPLIT, find_csv, load_fer2013_csv

LABEL_FILE = "fer2013new.csv"
VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt",
                "unknown", "NF")
NOT_EXPRESSIONS = {"unknown", "NF"}
FERPLUS_CLASSES = (*BASIC, CONTEMPT)
IMAGE_FOLDERS = {"train": "FER2013Train", "val": "FER2013Valid", "test": "FER2013Test"}


def majority_label(votes: list[int]) -> str | None:
    """The column name with strictly the most votes, or ``None`` for a tie, unknown or NF."""
    top = max(votes)
    if top == 0 or votes.count(top) > 1:
        return None
    name = VOTE_COLUMNS[votes.index(top)]
    return None if name in NOT_EXPRESSIONS else name


def read_votes(path: Path, split: str) -> dict[int, tuple[str, str]]:
    """Row position -> (image name, majority class) for the rows of ``split`` that have one."""
    out = {}
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = [h.strip() for h in next(reader, [])]
        if header != ["Usage", "Image name", *VOTE_COLUMNS]:
            raise ValueError(f"{path} has header {header}; expected Usage,Image name,"
                             f"{','.join(VOTE_COLUMNS)} (the FER+ fer2013new.csv).")
        for position, row in enumerate(reader):
            if len(row) != len(header):
                raise ValueError(f"{path} line {reader.line_num} has {len(row)} columns, expected {len(header)} "
                                 f"(Usage, Image name and {len(VOTE_COLUMNS)} vote counts).")
            if USAGE_SPLIT.get(row[0].strip()) != split or not row[1].strip():
                continue
            if not all(v.strip().isdigit() for v in row[2:12]):
                raise ValueError(f"{path} line {reader.line_num} has vote counts {excerpt(row[2:12])}; expected whole "
                                 f"numbers of 0 or more.")
            votes = [int(v) for v in row[2:12]]
            label = majority_label(votes)
            if label is not None:
                out[position] = (row[1].strip(), label)
    return out


@register_dataset("ferplus")
def load_ferplus(split: str, root: Path | None, image_size: int = 48, channels: int = 1,
                 cache_dir: str | Path | None = None, strict: bool = False) -> FaceDataset:
    if root is None:
        raise ValueError("--data-root is required for ferplus: the folder holding fer2013new.csv and "
                         "fer2013.csv (or the FER2013Train/Valid/Test image folders).")
    label_file = root / LABEL_FILE
    if not label_file.is_file():
        raise FileNotFoundError(f"FER+ label file {label_file} not found.")
    votes = read_votes(label_file, split)
    table = find_csv(root)
    if table is not None:
        faces = load_fer2013_csv(table, split, image_size, channels, cache_dir)
        rows = [int(key.removeprefix("row")) for key in faces.keys]
        unmatched = sorted(set(votes) - set(rows))
        if unmatched:
            line = unmatched[0] + 2
            raise ValueError(f"{label_file} line {line} is a {split} face, but line {line} of {table} is not; "
                             f"the two files must list the same faces in the same order.")
        keep = [i for i, row in enumerate(rows) if row in votes]
        labels = [FERPLUS_CLASSES.index(votes[rows[i]][1]) for i in keep]
        return FaceDataset(faces.images[torch.tensor(keep, dtype=torch.long)], labels, FERPLUS_CLASSES,
                           [faces.keys[i] for i in keep], None, "ferplus", split)
    folder = root / IMAGE_FOLDERS[split]
    if not folder.is_dir():
        raise FileNotFoundError(f"no FER2013 faces for FER+ under {root}: expected fer2013.csv (or "
                                f"icml_face_data.csv), or the image folder {folder}.")
    positions = sorted(votes)
    paths = [folder / votes[p][0] for p in positions]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} of {len(paths)} FER+ images are missing from {folder}, "
                                f"first: {missing[:3]}.")
    images, ok = load_images(paths, image_size, channels, cache_dir, strict, desc=f"ferplus {split}")
    kept = [positions[i] for i in ok.tolist()]
    return FaceDataset(images, [FERPLUS_CLASSES.index(votes[p][1]) for p in kept], FERPLUS_CLASSES,
                       [f"row{p}" for p in kept], None, "ferplus", split)
