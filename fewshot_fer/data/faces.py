"""Frames and face crops: read a video's frames evenly, find the face, cut it out.

The detector ships inside a pip package and needs no download: OpenCV's frontal-face Haar
cascade. OpenCV 4 wheels bundle it; OpenCV 5 moved it to opencv-contrib without its model file,
so there a cascade XML file can be named instead (``--face-detector PATH.xml``). ``none`` uses the
centre square of every frame (for clips that are already face crops).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

from ..errors import MissingExtra
from .cache import decode_image_rgb, file_signature, load_images, read_entry, to_8bit, to_face_array, write_entry

HAAR_FILE = "haarcascade_frontalface_default.xml"


def require_cv2(purpose: str) -> Any:
    """OpenCV, or a ``MissingExtra`` naming ``purpose`` (what needed it) and the install command."""
    try:
        import cv2
    except ImportError:
        raise MissingExtra(f"{purpose} needs OpenCV, which is not installed: pip install 'fewshot-fer[video]' "
                           f"(opencv-python-headless).") from None
    return cv2


def even_indices(total: int, count: int) -> list[int]:
    """``count`` frame indices spread evenly over ``total`` frames (the centre of each of
    ``count`` equal segments); all frames when there are no more than ``count``."""
    if total <= count:
        return list(range(total))
    return sorted({int((i + 0.5) * total / count) for i in range(count)})


def read_video_frames(path: Path, count: int) -> list[np.ndarray]:
    """``count`` evenly spaced frames of a video as RGB ``[H, W, 3]`` uint8 arrays."""
    cv2 = require_cv2(f"reading video {path}")
    capture = cv2.VideoCapture(str(path))
    try:
        if not capture.isOpened():
            raise OSError(f"video {path} could not be opened")
        total = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if total <= 0:  # some containers do not store a frame count: decode all, then pick
            frames = []
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                frames.append(frame)
            picked = [frames[i] for i in even_indices(len(frames), count)]
        else:
            wanted, picked = set(even_indices(total, count)), []
            for i in range(max(wanted) + 1):
                if i in wanted:
                    ok, frame = capture.read()
                    if ok:
                        picked.append(frame)
                else:
                    ok = capture.grab()  # skip without decoding into an array
                if not ok:
                    break
    finally:
        capture.release()
    if not picked:
        raise OSError(f"no frame of video {path} could be decoded")
    return [np.ascontiguousarray(f[:, :, ::-1]) for f in picked]


def read_frame_folder(folder: Path, files: list[Path], count: int) -> list[np.ndarray]:
    """``count`` evenly spaced images of a folder of pre-extracted frames, as RGB arrays."""
    frames = []
    for i in even_indices(len(files), count):
        with Image.open(files[i]) as im:
            frames.append(np.asarray(to_8bit(im, 3)))
    return frames


class FaceCropper:
    """Finds the largest face in an RGB frame and returns it as uint8 ``[C, size, size]``.

    Args:
        detector: ``"haar"`` (OpenCV's bundled cascade), a path to a cascade XML file, or
            ``"none"`` (centre square of the frame).
        image_size: side of the output crop in pixels.
        channels: 1 (grayscale) or 3 (RGB).
        margin: fraction of the face box added on each side, so the chin and brows are kept.
    """

    def __init__(self, detector: str = "haar", image_size: int = 48, channels: int = 1,
                 margin: float = 0.15) -> None:
        self.detector, self.image_size, self.channels, self.margin = detector, image_size, channels, margin
        self.cascade = None if detector == "none" else self._load_cascade(detector)

    @staticmethod
    def _load_cascade(detector: str) -> Any:
        cv2 = require_cv2("face detection (--face-detector)")
        if not hasattr(cv2, "CascadeClassifier"):
            raise ValueError(f"OpenCV {cv2.__version__} has no Haar face detector (OpenCV 5 moved it to "
                             f"opencv-contrib); install OpenCV 4 with pip install 'opencv-python-headless<5', "
                             f"or use opencv-contrib-python-headless and --face-detector PATH/{HAAR_FILE}, or "
                             f"--face-detector none when the frames are already faces.")
        if detector == "haar":
            path = Path(cv2.data.haarcascades) / HAAR_FILE
            if not path.is_file():
                raise ValueError(f"this OpenCV ({cv2.__version__}) ships no {HAAR_FILE}; name a cascade file "
                                 f"with --face-detector PATH/{HAAR_FILE}.")
        else:
            path = Path(detector).expanduser()
            if not path.is_file():
                raise ValueError(f"--face-detector {detector!r} is neither 'haar', 'none' nor an existing "
                                 f"cascade XML file.")
        cascade = cv2.CascadeClassifier(str(path))
        if cascade.empty():
            raise ValueError(f"{path} is not a valid OpenCV cascade XML file.")
        return cascade

    def face_box(self, rgb: np.ndarray) -> tuple[int, int, int, int] | None:
        """(x0, y0, x1, y1) of a square around the largest face, or ``None``."""
        h, w = rgb.shape[:2]
        if self.cascade is None:
            side = min(h, w)
            return (w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2
        cv2 = require_cv2("face detection (--face-detector)")
        gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        smallest = max(20, min(h, w) // 12)  # ignore tiny background faces
        faces = self.cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3, minSize=(smallest, smallest))
        if len(faces) == 0:
            return None
        x, y, fw, fh = (int(v) for v in max(faces, key=lambda b: b[2] * b[3]))
        side = int(max(fw, fh) * (1 + 2 * self.margin))
        cx, cy = x + fw // 2, y + fh // 2
        x0, y0 = max(0, cx - side // 2), max(0, cy - side // 2)
        return x0, y0, min(w, x0 + side), min(h, y0 + side)

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        box = self.face_box(rgb)
        if box is None:
            return None
        x0, y0, x1, y1 = box
        return to_face_array(Image.fromarray(rgb[y0:y1, x0:x1]), self.image_size, self.channels)

    def resize_only(self, rgb: np.ndarray) -> np.ndarray:
        """A frame that is already a face crop, as ``[C, size, size]``."""
        return to_face_array(Image.fromarray(rgb), self.image_size, self.channels)


def load_face_crops(paths: list[Path], image_size: int, channels: int, detector: str,
                    cache_dir: str | Path | None = None, strict: bool = False,
                    desc: str = "finding faces") -> tuple[torch.Tensor, torch.Tensor]:
    """Like ``cache.load_images``, but each image is first cropped to its largest face by
    ``detector`` (``"none"``: the images are used whole). Images with no face found are skipped
    and counted in a warning (never a background crop); unreadable ones likewise, or stop the load
    with ``strict``. Cached by file signature and detector."""
    if detector == "none":
        return load_images(paths, image_size, channels, cache_dir, strict, desc=desc)
    key = file_signature(paths, "faces", detector, image_size, channels)
    cached = read_entry(key, cache_dir)
    if cached is None:
        cropper = FaceCropper(detector, image_size, channels)
        crops, ok, no_face, bad = [], [], [], []
        for i, path in enumerate(tqdm(paths, desc=desc, unit="img", disable=None, leave=False)):
            try:
                face = cropper(decode_image_rgb(path))
            except (OSError, ValueError) as err:
                if strict:
                    raise ValueError(f"image {path} could not be decoded ({err}); fix or remove it, or drop "
                                     f"--strict to skip unreadable images.") from None
                bad.append(str(path))
                continue
            if face is None:
                no_face.append(str(path))
                continue
            crops.append(face)
            ok.append(i)
        array = np.stack(crops) if crops else np.zeros((0, channels, image_size, image_size), np.uint8)
        cached = (array, {"ok": ok, "no_face": no_face, "skipped": bad})
        write_entry(key, *cached, cache_dir)
    array, meta = cached
    if meta["skipped"]:
        warnings.warn(f"skipped {len(meta['skipped'])} unreadable image(s), first: {meta['skipped'][:3]}", stacklevel=2)
    if meta["no_face"]:
        warnings.warn(f"{len(meta['no_face'])} of {len(paths)} images had no face found by --face-detector "
                      f"{detector} and were left out, first: {meta['no_face'][:3]}", stacklevel=2)
    return torch.from_numpy(array), torch.tensor(meta["ok"], dtype=torch.long)
