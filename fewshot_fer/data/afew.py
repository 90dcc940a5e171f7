"""AFEW (EmotiW) video clips: ``Train_AFEW/<Emotion>/<id>.avi`` and ``Val_AFEW/<Emotion>/<id>.avi``.

Each clip gives ``clip_frames`` evenly spaced frames; the largest face of each frame is detected
and cropped (``faces.FaceCropper``). Pre-extracted face frames are read instead of the video when
present: a folder ``<Emotion>/<id>/`` in place of the ``.avi``, or ``Faces/<id>/`` under the split
folder, under ``Faces/<split folder>/``, or under the root. Every clip is one group (keyed by split
and id: the same id can name different clips in the two splits), so its frames never straddle
support and query. Frames without a face are skipped and counted; clips without any face are
reported and left out. Crops are cached. The test split has no public labels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..labels import BASIC, canonical_name
from .base import FaceDataset
from .cache import file_signature, read_entry, write_entry
from .catalog import LoaderOption, register_dataset
from .faces import ALIGN, FACE_DETECTOR, FaceCropper, read_frame_folder, read_video_frames
from .images import list_files

CLIP_FRAMES = LoaderOption("clip_frames", "frames sampled evenly from each clip", int, 8)

SPLIT_DIRS = {"train": ("Train_AFEW", "Train", "train"), "val": ("Val_AFEW", "Val", "val", "Validation")}
VIDEO_SUFFIXES = {".avi", ".mp4", ".mkv", ".mov", ".webm"}
FACES_DIR = "Faces"


@dataclass
class Clip:
    key: str  # "<split folder>/<Emotion>/<id>"
    label: int  # index into BASIC
    files: list[Path]  # the video file, or the frame images of a pre-extracted folder

    @property
    def is_video(self) -> bool:
        return len(self.files) == 1 and self.files[0].suffix.lower() in VIDEO_SUFFIXES


def image_files(folder: Path) -> list[Path]:
    return list_files(folder, recursive=False).files


def find_clips(root: Path, split: str) -> list[Clip]:
    if split == "test":
        raise ValueError("AFEW publishes no labels for its test split; use --split val (Val_AFEW).")
    if not root.is_dir():
        raise FileNotFoundError(f"AFEW folder {root} does not exist.")
    split_dir = next((root / n for n in SPLIT_DIRS[split] if (root / n).is_dir()), None)
    if split_dir is None:
        zipped = sorted(root.glob(f"{SPLIT_DIRS[split][0]}*.zip"))
        hint = f"; {zipped[0].name} is still zipped, unpack it" if zipped else ""
        raise FileNotFoundError(f"AFEW split {split!r} not found: expected {root / SPLIT_DIRS[split][0]} holding "
                                f"one folder per emotion (Angry, Disgust, Fear, Happy, Neutral, Sad, Surprise){hint}.")
    face_roots = [split_dir / FACES_DIR, root / FACES_DIR / split_dir.name, root / FACES_DIR]
    clips = []
    for emotion_dir in sorted(p for p in split_dir.iterdir() if p.is_dir() and p.name != FACES_DIR):
        label = BASIC.index(canonical_name(emotion_dir.name))
        for entry in sorted(emotion_dir.iterdir()):
            is_video = entry.is_file() and entry.suffix.lower() in VIDEO_SUFFIXES
            if not (is_video or entry.is_dir()):
                continue
            clip_id = entry.stem if is_video else entry.name
            faces = next((r / clip_id for r in face_roots if (r / clip_id).is_dir()), None)
            files = image_files(faces) if faces else [entry] if is_video else image_files(entry)
            if files:
                clips.append(Clip(f"{split_dir.name}/{emotion_dir.name}/{clip_id}", label, files))
    if not clips:
        raise FileNotFoundError(f"no clips (.avi files or frame folders) under {split_dir}/<Emotion>/.")
    return clips


def crop_clips(clips: list[Clip], cropper: FaceCropper, clip_frames: int, strict: bool) -> tuple[np.ndarray, dict]:
    """Face crops of every clip and what happened: per crop its clip and frame, the clips without
    a face, the unreadable clips, and how many sampled frames had no face."""
    crops, clip_of, frame_of, no_face, unreadable, faceless_frames, sampled = [], [], [], [], [], 0, 0
    for c, clip in enumerate(tqdm(clips, desc="afew clips", unit="clip", disable=None, leave=False)):
        try:
            if clip.is_video:
                frames = read_video_frames(clip.files[0], clip_frames)
            else:
                frames = read_frame_folder(clip.files[0].parent, clip.files, clip_frames)
        except OSError as err:
            if strict:
                raise ValueError(f"clip {clip.files[0]} could not be read ({err}); drop --strict to skip it.") from None
            unreadable.append(clip.key)
            continue
        found = 0
        for f, frame in enumerate(frames):
            face = cropper(frame) if clip.is_video else cropper.resize_only(frame)
            if face is None:
                continue
            crops.append(face)
            clip_of.append(c)
            frame_of.append(f)
            found += 1
        sampled += len(frames)
        faceless_frames += len(frames) - found
        if found == 0:
            no_face.append(clip.key)
    shape = (0, cropper.channels, cropper.image_size, cropper.image_size)
    array = np.stack(crops) if crops else np.zeros(shape, dtype=np.uint8)
    return array, {"clip": clip_of, "frame": frame_of, "no_face": no_face, "unreadable": unreadable,
                   "faceless_frames": faceless_frames, "sampled_frames": sampled}


def report(meta: dict, n_clips: int) -> None:
    if meta["unreadable"]:
        warnings.warn(f"skipped {len(meta['unreadable'])} unreadable clip(s), first: {meta['unreadable'][:3]}",
                      stacklevel=3)
    if meta["faceless_frames"]:
        warnings.warn(f"{meta['faceless_frames']} of {meta['sampled_frames']} sampled frames had no detected "
                      f"face and were skipped", stacklevel=3)
    if meta["no_face"]:
        warnings.warn(f"{len(meta['no_face'])} of {n_clips} clips had no detected face in any sampled frame "
                      f"and were left out: {meta['no_face'][:5]}", stacklevel=3)


@register_dataset("afew", (CLIP_FRAMES, FACE_DETECTOR, ALIGN), splits=("train", "val"), video=True)
def load_afew(split: str, root: Path | None, image_size: int = 48, channels: int = 1,
              cache_dir: str | Path | None = None, strict: bool = False, clip_frames: int = 8,
              face_detector: str = "haar", align: bool = False) -> FaceDataset:
    if root is None:
        raise ValueError("--data-root is required for afew: the folder holding Train_AFEW/ and Val_AFEW/.")
    if clip_frames < 1:
        raise ValueError(f"--clip-frames must be at least 1, got {clip_frames}.")
    clips = find_clips(root, split)
    files = [f for clip in clips for f in clip.files]
    key = file_signature(files, "afew", clip_frames, face_detector, image_size, channels,
                         *(["aligned"] if align else []))
    cached = read_entry(key, cache_dir)
    if cached is None:
        cropper = FaceCropper(face_detector, image_size, channels, align=align)
        cached = crop_clips(clips, cropper, clip_frames, strict)
        write_entry(key, *cached, cache_dir)
    images, meta = cached
    report(meta, len(clips))
    if len(images) == 0:
        raise ValueError(f"no face was found in any of the {len(clips)} AFEW {split} clips under {root}; "
                         f"check --face-detector (none for clips that are already face crops).")
    keys = [f"{clips[c].key}#{f}" for c, f in zip(meta["clip"], meta["frame"])]
    labels = [clips[c].label for c in meta["clip"]]
    return FaceDataset(torch.from_numpy(images), labels, BASIC, keys, meta["clip"], name="afew", split=split)
