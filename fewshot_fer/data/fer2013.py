"""FER2013 in the image-folder layout: ``{train,validation,test}/<class>/<Usage>_<digits>.jpg``
(a folder holding ``fer2013.csv`` or ``icml_face_data.csv`` is read by ``fer2013_csv``).

Class folders are the lowercase names ``angry disgust fear happy neutral sad surprise``. When
there is no ``validation/`` folder, ``test/`` holds both public and private test images and the
file-name prefix splits them (``PublicTest_`` -> val, ``PrivateTest_`` -> test). File names that
are not ``<Usage>_<digits>.jpg`` (such as the augmented copies ``x.jpg0.jpg`` of some public
copies) are skipped with a warning so no face counts twice. FER2013 has no subject ids.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

from ..labels import BASIC, canonical_name
from .base import FaceDataset
from .cache import IMAGE_SUFFIXES, load_images
from .catalog import register_dataset
from .fer2013_csv import find_csv, load_fer2013_csv

NAME = re.compile(r"^(Training|PublicTest|PrivateTest)_\d+\.(jpe?g|png)$", re.IGNORECASE)
SPLIT_FOLDERS = {"train": ("train", "Training"), "val": ("validation", "val", "PublicTest"),
                 "test": ("test", "PrivateTest")}
USAGE = {"train": "training", "val": "publictest", "test": "privatetest"}


def scan(root: Path, split: str) -> tuple[list[Path], list[int], list[Path]]:
    """Image paths, canonical class ids (indices into ``BASIC``) and stray files of a split."""
    if not root.is_dir():
        raise FileNotFoundError(f"FER2013 folder {root} does not exist.")
    if any(root.glob("*.zip")) and not any(p.is_dir() for p in root.iterdir()):
        raise ValueError(f"{root} holds only zip archives; unpack them first (expected "
                         f"train/, test/ and optionally validation/ folders of class folders).")
    folder = next((root / n for n in SPLIT_FOLDERS[split] if (root / n).is_dir()), None)
    by_prefix = folder is None and split == "val" and (root / "test").is_dir()
    if by_prefix:
        folder = root / "test"  # no validation folder: PublicTest_ files of test/ are the val split
    if folder is None:
        raise FileNotFoundError(f"FER2013 split {split!r} not found under {root}: expected one of the "
                                f"folders {', '.join(SPLIT_FOLDERS[split])}, each holding class folders "
                                f"(angry, disgust, fear, happy, neutral, sad, surprise).")
    split_by_name = by_prefix or (split == "test" and not any(
        (root / n).is_dir() for n in SPLIT_FOLDERS["val"]))
    paths, labels, stray = [], [], []
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir())
    if not class_dirs:
        raise FileNotFoundError(f"{folder} has no class folders (expected angry, disgust, fear, happy, "
                                f"neutral, sad, surprise).")
    for class_dir in class_dirs:
        label = BASIC.index(canonical_name(class_dir.name))
        # os.scandir: 28,709 files listed without one stat and one Path parse each
        for entry in sorted(os.scandir(class_dir), key=lambda e: e.name):
            if os.path.splitext(entry.name)[1].lower() not in IMAGE_SUFFIXES or not entry.is_file():
                continue
            m = NAME.match(entry.name)
            if not m:
                stray.append(class_dir / entry.name)
                continue
            if split_by_name and m.group(1).lower() != USAGE[split]:
                continue
            paths.append(class_dir / entry.name)
            labels.append(label)
    return paths, labels, stray


def relative_key(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` as a string (``train/angry/x.jpg``), by string prefix when
    possible: ``Path.relative_to`` on 28,709 files costs a second."""
    text, base = str(path), os.path.join(str(root), "")
    return text[len(base):] if text.startswith(base) else str(path.relative_to(root))


@register_dataset("fer2013")
def load_fer2013(split: str, root: Path, image_size: int = 48, channels: int = 1,
                 cache_dir: str | Path | None = None, strict: bool = False) -> FaceDataset:
    if root is None:
        raise ValueError("--data-root is required for fer2013: the folder holding train/ and test/, "
                         "or fer2013.csv.")
    table = find_csv(root)
    if table is not None:
        return load_fer2013_csv(table, split, image_size, channels, cache_dir)
    paths, labels, stray = scan(root, split)
    if stray:
        warnings.warn(f"skipped {len(stray)} file(s) in {root} whose names are not "
                      f"<Usage>_<digits>.jpg (augmented copies?), first: {[str(s) for s in stray[:3]]}",
                      stacklevel=2)
    if not paths:
        raise FileNotFoundError(f"no FER2013 images of split {split!r} found under {root}.")
    images, ok = load_images(paths, image_size, channels, cache_dir, strict, desc=f"fer2013 {split}")
    kept = ok.tolist()
    keys = [relative_key(paths[i], root) for i in kept]
    return FaceDataset(images, [labels[i] for i in kept], BASIC, keys, groups=None,
                       name="fer2013", split=split)
