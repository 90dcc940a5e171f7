"""RAF-DB basic and compound, in the official layout or the Kaggle re-packaging.

Official: ``EmoLabel/list_patition_label.txt`` (sic; ``partition`` accepted) with lines
``train_00001.jpg 5``, and aligned faces ``Image/aligned/train_00001_aligned.jpg``.
Kaggle: ``train_labels.csv`` / ``test_labels.csv`` (columns ``image,label``) and images in
``DATASET/{train,test}/<label>/``. ``--data-root`` may be the ``basic/`` (``compound/``) folder
itself or the folder that holds it.

RAF-DB publishes train and test only. Our ``val`` split is a fixed 15% of the official train
list, chosen by a hash of the file name; ``train`` is the other 85%, so model selection never
touches the test split. RAF-DB publishes no subject ids, so items have no groups.
"""

from __future__ import annotations

import csv
import zlib
from pathlib import Path

from ..labels import BASIC, COMPOUND
from .base import FaceDataset
from .cache import load_images
from .catalog import register_dataset

# Label ids of each kind -> canonical names; class ids of the dataset follow ``names``.
RAFDB_BASIC_IDS = {1: "surprise", 2: "fear", 3: "disgust", 4: "happiness", 5: "sadness", 6: "anger", 7: "neutral"}
RAFDB_COMPOUND_IDS = {i + 1: name for i, name in enumerate(COMPOUND)}
KINDS = {"basic": (BASIC, RAFDB_BASIC_IDS), "compound": (COMPOUND, RAFDB_COMPOUND_IDS)}
LABEL_FILES = ("EmoLabel/list_patition_label.txt", "EmoLabel/list_partition_label.txt")
KAGGLE_TABLES = {"train": "train_labels.csv", "test": "test_labels.csv"}
VAL_PERCENT = 15


def official_split(split: str) -> str:
    return "test" if split == "test" else "train"


def item_name(file_name: str) -> str:
    """The label-file name of an image (``train_00001_aligned.jpg`` -> ``train_00001.jpg``), the
    item key in both layouts."""
    path = Path(file_name)
    return path.stem.removesuffix("_aligned") + path.suffix


def in_val(name: str) -> bool:
    """Whether a train-list item belongs to our validation split (fixed, by a hash of its name)."""
    return zlib.crc32(Path(name).stem.encode()) % 100 < VAL_PERCENT


def find_root(root: Path, kind: str) -> Path:
    if not root.is_dir():
        raise FileNotFoundError(f"RAF-DB folder {root} does not exist.")
    has_layout = any((root / f).is_file() for f in LABEL_FILES) or (root / KAGGLE_TABLES["train"]).is_file()
    return root / kind if not has_layout and (root / kind).is_dir() else root


def read_official(root: Path, label_file: Path, ids: dict[int, str], split: str) -> list[tuple[str, str, Path]]:
    """(name, class, image path) of the official label file's rows of ``split``."""
    aligned = root / "Image" / "aligned"
    if not aligned.is_dir():
        zipped = [p for p in (root / "Image" / "aligned.zip", root / "aligned.zip", root / "Image.zip") if p.is_file()]
        if zipped:
            raise FileNotFoundError(f"RAF-DB images are still zipped ({zipped[0]}); unpack it so that "
                                    f"{aligned} holds the *_aligned.jpg faces.")
        raise FileNotFoundError(f"RAF-DB aligned faces not found: expected the folder {aligned} "
                                f"holding train_00001_aligned.jpg and similar files.")
    rows = []
    for number, line in enumerate(label_file.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].isdigit() or int(parts[1]) not in ids:
            raise ValueError(f"{label_file} line {number} is {line!r}; expected '<name>.jpg <id>' with id "
                             f"in {min(ids)}..{max(ids)}.")
        name = parts[0]
        if name.split("_")[0] != official_split(split):
            continue
        rows.append((name, ids[int(parts[1])], aligned / f"{Path(name).stem}_aligned.jpg"))
    return rows


def read_kaggle(root: Path, ids: dict[int, str], split: str) -> list[tuple[str, str, Path]]:
    """(name, class, image path) of the Kaggle table of ``split``."""
    table = root / KAGGLE_TABLES[official_split(split)]
    if not table.is_file():
        raise FileNotFoundError(f"RAF-DB label table {table} not found (Kaggle layout: train_labels.csv "
                                f"and test_labels.csv beside DATASET/).")
    rows = []
    with open(table, newline="") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in reader.fieldnames or []]
        if header[:2] != ["image", "label"]:
            raise ValueError(f"{table} has header {header}; expected the columns image,label.")
        reader.fieldnames = header
        for number, row in enumerate(reader, start=2):
            label = row["label"].strip()
            if not label.isdigit() or int(label) not in ids:
                raise ValueError(f"{table} line {number} has label {label!r}; expected an id in "
                                 f"{min(ids)}..{max(ids)}.")
            file_name = row["image"].strip()
            folder = root / "DATASET" / official_split(split) / label
            rows.append((item_name(file_name), ids[int(label)], folder / file_name))
    if rows and not (root / "DATASET").is_dir():
        zipped = sorted(root.glob("*.zip"))
        hint = f"; unpack {zipped[0].name} first" if zipped else ""
        raise FileNotFoundError(f"RAF-DB images not found: expected {root / 'DATASET'}/{{train,test}}/<label>/{hint}.")
    return rows


def load_rafdb(kind: str, split: str, root: Path | None, image_size: int = 48, channels: int = 1,
               cache_dir: str | Path | None = None, strict: bool = False) -> FaceDataset:
    if root is None:
        raise ValueError(f"--data-root is required for rafdb-{kind}: the folder holding EmoLabel/ and Image/ "
                         f"(or train_labels.csv and DATASET/).")
    names, ids = KINDS[kind]
    root = find_root(root, kind)
    label_file = next((root / f for f in LABEL_FILES if (root / f).is_file()), None)
    if label_file is not None:
        rows = read_official(root, label_file, ids, split)
    elif (root / KAGGLE_TABLES["train"]).is_file():
        rows = read_kaggle(root, ids, split)
    else:
        raise FileNotFoundError(f"no RAF-DB label file under {root}: expected {LABEL_FILES[0]} (official layout) "
                                f"or {KAGGLE_TABLES['train']} (Kaggle layout).")
    if split != "test":
        rows = [r for r in rows if in_val(r[0]) == (split == "val")]
    missing = [str(path) for _, _, path in rows if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} of {len(rows)} RAF-DB {kind} {split} images are missing, "
                                f"first: {missing[:3]}.")
    if not rows:
        raise FileNotFoundError(f"no RAF-DB {kind} images of split {split!r} listed under {root}.")
    images, ok = load_images([r[2] for r in rows], image_size, channels, cache_dir, strict,
                             desc=f"rafdb-{kind} {split}")
    kept = [rows[i] for i in ok.tolist()]
    return FaceDataset(images, [names.index(r[1]) for r in kept], names, [r[0] for r in kept],
                       groups=None, name=f"rafdb-{kind}", split=split)


@register_dataset("rafdb-basic")
def load_rafdb_basic(split: str, root: Path | None, image_size: int = 48, channels: int = 1,
                     cache_dir: str | Path | None = None, strict: bool = False) -> FaceDataset:
    """RAF-DB's basic-expression set (``load_rafdb("basic", ...)``)."""
    return load_rafdb("basic", split, root, image_size, channels, cache_dir, strict)


@register_dataset("rafdb-compound")
def load_rafdb_compound(split: str, root: Path | None, image_size: int = 48, channels: int = 1,
                        cache_dir: str | Path | None = None, strict: bool = False) -> FaceDataset:
    """RAF-DB's compound-expression set (``load_rafdb("compound", ...)``)."""
    return load_rafdb("compound", split, root, image_size, channels, cache_dir, strict)
