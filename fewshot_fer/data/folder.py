"""Any ``<root>/<class>/<image>`` tree (CK+, JAFFE, your own photos).

Class folder names go through the canonical aliases (angry/anger, happy/happiness, ...). An
optional regular expression turns a file name into a subject id (its first group, or the whole
match), so that episodes keep subjects apart: ``^(S\\d+)_`` for CK+, ``^([A-Z]{2})\\.`` for
JAFFE. With ``<root>/{train,val,test}/<class>/`` folders those are the splits; otherwise every
subject (or, without subject ids, every file) is assigned to train / val / test (70/15/15) by a
hash of its id, so a subject never straddles two splits. Split ``all`` is every image (a dataset
used only as a target: evaluate on all of CK+, JAFFE or your photos). ``half`` keeps the people of
one half of another hash of the subject ids: ``dev`` for every choice, ``report`` scored once
(lfw-expressions as a transfer target).
"""

from __future__ import annotations

import re
import warnings
import zlib
from pathlib import Path
from typing import Sequence

import torch

from ..labels import canonical_name
from .base import FaceDataset
from .catalog import LoaderOption, register_dataset
from .faces import ALIGN, FACE_DETECTOR, load_face_crops
from .images import IMAGE_SUFFIXES, Listing, display_path, list_files

SUBJECT_REGEX = LoaderOption("subject_regex", "regular expression whose first group is the subject id in a file "
                                              "name (CK+: '^(S\\d+)_'), so support and query never share a subject")

HALF = LoaderOption("half", "keep only the people whose subject id hashes into this half: dev (where every choice is "
                           "made) or report (scored once); needs --subject-regex, so a person is in one half only")
HALVES = ("dev", "report")

SPLIT_NAMES = {"train": ("train", "training"), "val": ("val", "validation"), "test": ("test",)}


def hashed_half(subject: str) -> str:
    """Deterministic halving of subject ids into ``dev`` and ``report`` (a hash of its own, apart
    from ``hashed_split``'s)."""
    return HALVES[zlib.crc32(f"half:{subject}".encode()) % 2]


def hashed_split(subject: str) -> str:
    """Deterministic 70/15/15 assignment of a subject id to a split."""
    bucket = zlib.crc32(subject.encode()) % 100
    return "train" if bucket < 70 else "val" if bucket < 85 else "test"


@register_dataset("folder", (SUBJECT_REGEX, FACE_DETECTOR, ALIGN, HALF), reads_all=True)
def load_folder(split: str, root: Path | None, image_size: int = 48, channels: int = 1,
                cache_dir: str | Path | None = None, strict: bool = False,
                subject_regex: str | None = None, face_detector: str = "none", align: bool = False,
                half: str | None = None) -> FaceDataset:
    if half is not None and half not in HALVES:
        raise ValueError(f"--half must be dev or report, got {half!r}.")
    if half is not None and not subject_regex:
        raise ValueError("--half keeps people apart, so it needs --subject-regex (the person's id in a file name, "
                         "e.g. '^(.+)_\\d+\\.jpg$').")
    if root is None:
        raise ValueError("--data-root is required for the folder dataset: a folder of class folders.")
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {root} does not exist.")
    split_names = {n for names in SPLIT_NAMES.values() for n in names}
    split_dirs = [root / n for names in SPLIT_NAMES.values() for n in names if (root / n).is_dir()]
    if split == "all":  # every image: each split folder's, or the whole tree's
        split_dir, bases = None, split_dirs or [root]
    else:
        split_dir = next((root / n for n in SPLIT_NAMES[split] if (root / n).is_dir()), None)
        bases = [split_dir or root]
    base = bases[0] if len(bases) == 1 else root
    pattern = re.compile(subject_regex) if subject_regex else None
    class_dirs = sorted((p for b in bases for p in b.iterdir() if p.is_dir() and p.name.lower() not in split_names),
                        key=lambda p: (p.name, str(p)))
    if not class_dirs:
        raise FileNotFoundError(f"{base} has no class folders; expected <root>/<class>/<image> "
                                f"with class names such as angry, happy, sad, surprise.")
    names = sorted({canonical_name(d.name) for d in class_dirs})
    note_merged_folders(class_dirs)
    paths, labels, subjects, empty, special = [], [], [], [], []
    for d in class_dirs:
        listing = list_files(d)
        files = listing.files
        special += listing.special
        if not files:
            empty.append(str(d))
        for f in files:
            subject = f.stem
            if pattern:
                m = pattern.search(f.name)
                if not m:
                    raise ValueError(f"subject pattern '{subject_regex}' does not match file name "
                                     f"{f.name!r} in {d}; every file needs a subject id.")
                subject = m.group(1) if m.groups() else m.group(0)
            if split_dir is None and split != "all" and hashed_split(subject) != split:
                continue
            if half is not None and hashed_half(subject) != half:
                continue
            paths.append(f)
            labels.append(names.index(canonical_name(d.name)))
            subjects.append(subject)
    if special:
        warnings.warn(f"{display_path(base)}: {Listing(special=special).note()}", stacklevel=3)
    if empty:
        warnings.warn(f"{len(empty)} class folder(s) hold no images ({', '.join(sorted(IMAGE_SUFFIXES))}) and give no "
                      f"faces: {empty[:3]}", stacklevel=3)
    if not paths:
        raise FileNotFoundError(f"no images for split {split!r} under {base}.")
    images, ok = load_face_crops(paths, image_size, channels, face_detector, cache_dir, strict,
                                 desc=f"folder {split}", align=align)  # "none", unaligned: plain decoding
    return files_dataset(images, ok, paths, labels, subjects if pattern else None, names, root, "folder", split)


def note_merged_folders(class_dirs: list[Path]) -> None:
    """Warn when several class folders are read as one expression (``happy``, ``Happy `` and
    ``joy`` are all happiness), naming them, so a merge is never silent."""
    by_class: dict[str, list[str]] = {}
    for d in class_dirs:
        names = by_class.setdefault(canonical_name(d.name), [])
        if d.name not in names:
            names.append(d.name)
    merged = {c: names for c, names in by_class.items() if len(names) > 1}
    if merged:
        warnings.warn("class folders read as one expression: " + "; ".join(
            f"{', '.join(repr(display_path(n)) for n in names)} -> {c}" for c, names in sorted(merged.items())),
            stacklevel=4)


def files_dataset(images: torch.Tensor, ok: torch.Tensor, paths: list[Path], labels: list[int],
                  subjects: list[str] | None, class_names: Sequence[str], root: Path, name: str,
                  split: str) -> FaceDataset:
    """The faces decoded from ``paths`` (``ok``: the indices that decoded, ``images`` theirs), with
    their labels, subject ids as groups (none without ``subjects``) and keys relative to ``root``."""
    kept = ok.tolist()
    groups = None
    if subjects is not None:
        ids = {s: i for i, s in enumerate(sorted(set(subjects)))}
        groups = [ids[subjects[i]] for i in kept]
    return FaceDataset(images, [labels[i] for i in kept], class_names, [str(paths[i].relative_to(root)) for i in kept],
                       groups, name=name, split=split)
