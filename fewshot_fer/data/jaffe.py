"""JAFFE: one flat folder (``jaffedbase/``) of 256x256 greyscale TIFFs named
``<subject>.<expression><n>.<id>.tiff`` (``KA.AN1.39.tiff``), 10 subjects, 7 expressions.
The frames include hair and background: the face is found first (``face_detector``). Subject =
the two-letter prefix; splits are by subject (70/15/15 hash), or ``all``.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..labels import BASIC
from .base import FaceDataset
from .catalog import register_dataset
from .faces import ALIGN, FACE_DETECTOR, load_face_crops
from .folder import files_dataset, hashed_split

CODES = {"AN": "anger", "DI": "disgust", "FE": "fear", "HA": "happiness", "NE": "neutral", "SA": "sadness",
         "SU": "surprise"}
NAME = re.compile(r"^([A-Za-z]{2})\.([A-Za-z]{2})\d*\.\d+\.tiff?$")


@register_dataset("jaffe", (FACE_DETECTOR, ALIGN), reads_all=True)
def load_jaffe(split: str, root: Path | None, image_size: int = 48, channels: int = 1,
               cache_dir: str | Path | None = None, strict: bool = False,
               face_detector: str = "haar", align: bool = False) -> FaceDataset:
    if root is None:
        raise ValueError("--data-root is required for jaffe: the jaffedbase/ folder of TIFFs (or its parent).")
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {root} does not exist.")
    folder = root / "jaffedbase" if (root / "jaffedbase").is_dir() else root
    paths, labels, subjects, stray = [], [], [], []
    for f in sorted(p for p in folder.iterdir() if p.is_file()):
        m = NAME.match(f.name)
        if not m or m.group(2).upper() not in CODES:
            if f.suffix.lower() in (".tif", ".tiff"):
                stray.append(f.name)
            continue
        subject = m.group(1).upper()
        if split != "all" and hashed_split(subject) != split:
            continue
        paths.append(f)
        labels.append(BASIC.index(CODES[m.group(2).upper()]))
        subjects.append(subject)
    if stray:
        raise ValueError(f"{folder} holds TIFFs not named <subject>.<expression><n>.<id>.tiff with an expression "
                         f"code among {', '.join(CODES)}, e.g. {stray[0]!r}; JAFFE names look like KA.AN1.39.tiff.")
    if not paths:
        raise FileNotFoundError(f"no JAFFE images for split {split!r} in {folder}; expected files such as "
                                f"KA.AN1.39.tiff.")
    images, ok = load_face_crops(paths, image_size, channels, face_detector, cache_dir, strict, desc=f"jaffe {split}",
                                 align=align)
    return files_dataset(images, ok, paths, labels, subjects, BASIC, root, "jaffe", split)
