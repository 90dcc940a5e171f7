"""CK+ (Extended Cohn-Kanade), native layout or the pre-cropped "CK+48" class folders.

Native::

    cohn-kanade-images/S005/001/S005_001_00000011.png   frames of one posed sequence
    Emotion/S005/001/S005_001_00000011_emotion.txt      one float: the sequence's expression

Only labelled sequences (about 327 of 593) are used: their last ``peak_frames`` frames take the
label, and with ``neutral_first`` their first frame is a neutral face. Unlabelled sequences are
skipped and counted. Frames are 640x490 with background: the face is found first (``face_detector``).
CK+48: ``<class>/S010_004_00000017.png`` face crops. Subject = the ``S`` number in both; splits
are by subject (70/15/15 hash), or ``all``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from .base import FaceDataset
from .catalog import LoaderOption, register_dataset
from .faces import ALIGN, FACE_DETECTOR, load_face_crops
from .folder import files_dataset, hashed_split, load_folder
from .images import list_files

EMOTION_CODES = {0: "neutral", 1: "anger", 2: "contempt", 3: "disgust", 4: "fear", 5: "happiness", 6: "sadness",
                 7: "surprise"}
CLASSES = ("anger", "contempt", "disgust", "fear", "happiness", "neutral", "sadness", "surprise")
SUBJECT = r"^(S\d+)_"


def read_emotion(path: Path) -> str:
    try:
        code = float(path.read_text().split()[0])
    except (IndexError, ValueError):
        raise ValueError(f"{path} should hold one number (the CK+ emotion code 0-7).") from None
    if code not in EMOTION_CODES:
        raise ValueError(f"{path} holds {code}, not a CK+ emotion code (0 neutral ... 7 surprise).")
    return EMOTION_CODES[int(code)]


PEAK_FRAMES = LoaderOption("peak_frames", "the last frames of each labelled sequence that take its label", int, 3)
NEUTRAL_FIRST = LoaderOption("neutral_first", "also use the first frame of each labelled sequence as a neutral face",
                             bool, False)


@register_dataset("ckplus", (FACE_DETECTOR, ALIGN, PEAK_FRAMES, NEUTRAL_FIRST), reads_all=True)
def load_ckplus(split: str, root: Path | None, image_size: int = 48, channels: int = 1,
                cache_dir: str | Path | None = None, strict: bool = False, face_detector: str = "haar", align: bool = False,
                peak_frames: int = 3, neutral_first: bool = False) -> FaceDataset:
    if root is None:
        raise ValueError("--data-root is required for ckplus: the folder holding cohn-kanade-images/ and "
                         "Emotion/ (or the CK+48 class folders).")
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder {root} does not exist.")
    frames_root, emotion_root = root / "cohn-kanade-images", root / "Emotion"
    if not frames_root.is_dir():  # CK+48: class folders of face crops, subjects from the file names
        dataset = load_folder(split, root, image_size, channels, cache_dir, strict, subject_regex=SUBJECT, align=align)
        dataset.name = "ckplus"
        return dataset
    if not emotion_root.is_dir():
        raise FileNotFoundError(f"{root} has cohn-kanade-images/ but no Emotion/ folder of labels; CK+ ships "
                                f"them as a separate archive (Emotion_labels): unpack it next to the images.")
    if peak_frames < 1:
        raise ValueError(f"--peak-frames must be at least 1, got {peak_frames}.")
    paths, labels, subjects, unlabelled, sequences = [], [], [], [], 0
    for seq in sorted(p for p in frames_root.glob("S*/*") if p.is_dir()):
        frames = list_files(seq, recursive=False).files
        if not frames:
            continue
        sequences += 1
        subject = seq.parent.name
        if split != "all" and hashed_split(subject) != split:
            continue
        label_files = sorted((emotion_root / subject / seq.name).glob("*_emotion.txt"))
        if not label_files:
            unlabelled.append(f"{subject}/{seq.name}")
            continue
        expression = read_emotion(label_files[0])
        picked = [(f, expression) for f in frames[-peak_frames:]]
        if neutral_first and len(frames) > peak_frames:
            picked.insert(0, (frames[0], "neutral"))
        for f, name in picked:
            paths.append(f)
            labels.append(CLASSES.index(name))
            subjects.append(subject)
    if unlabelled:
        warnings.warn(f"{len(unlabelled)} CK+ sequences have no Emotion file and were skipped (CK+ labels 327 of "
                      f"593), first: {unlabelled[:3]}", stacklevel=3)
    if not paths:
        raise FileNotFoundError(f"no labelled CK+ frames for split {split!r} under {frames_root} "
                                f"({sequences} sequences seen).")
    images, ok = load_face_crops(paths, image_size, channels, face_detector, cache_dir, strict, desc=f"ckplus {split}",
                                 align=align)
    return files_dataset(images, ok, paths, labels, subjects, CLASSES, root, "ckplus", split)
