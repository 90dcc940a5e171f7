"""Frames and face crops: read a video's frames evenly, find the face, cut it out, align it.

Both detectors ship inside a pip package and need no download: OpenCV's frontal-face Haar
cascade (``haar``; OpenCV 4 wheels bundle it, OpenCV 5 moved it to opencv-contrib without its
model file, so there a cascade XML file can be named instead: ``--face-detector PATH.xml``), and
MTCNN (``mtcnn``, facenet-pytorch: also five landmarks, and faces turned further). ``none`` uses
the centre square of every frame (for clips that are already face crops).

Alignment maps landmarks onto fixed points of the crop by a similarity (rotation, uniform scale,
shift), as RAF-DB's aligned images are made: MTCNN's five points by least squares, or with Haar
the two eye centres from OpenCV's eye cascade.
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
from .catalog import LoaderOption
from .images import display_path, open_image

HAAR_FILE = "haarcascade_frontalface_default.xml"
EYE_FILE = "haarcascade_eye.xml"
DETECTORS = ("none", "haar", "mtcnn")  # or a cascade XML file
FACE_DETECTOR = LoaderOption(
    "face_detector", "'haar' (OpenCV's bundled frontal-face cascade), 'mtcnn' (facenet-pytorch's MTCNN with five "
                     "landmarks; finds faces turned further), a cascade XML file, or 'none' (images already face crops)")
ALIGN = LoaderOption(
    "align", "rotate and scale each face so its landmarks sit at fixed points: with --face-detector mtcnn its five "
             "points (least squares), otherwise the two eyes (OpenCV's bundled Haar eye cascade; faces whose two "
             "eyes are not found stay unaligned and are counted)", bool, False)
# where the eyes go in an aligned S x S face: level, 0.3 S apart, 0.4 S from the top (RAF-DB-like)
EYE_TEMPLATE = ((0.35, 0.4), (0.65, 0.4))
# MTCNN's five points (eyes, nose tip, mouth corners) in an aligned face: the usual five-point face
# template's proportions (ArcFace's 112 px one) scaled so that the eyes fall on EYE_TEMPLATE
FIVE_POINT_TEMPLATE = (*EYE_TEMPLATE, (0.5, 0.571), (0.376, 0.746), (0.624, 0.746))


def similarity_transform(src: Any, dst: Any) -> np.ndarray:
    """The 2x3 similarity (rotation, uniform scale, shift; no reflection) that maps the points
    ``src`` ``[K, 2]`` (x, y) onto ``dst`` ``[K, 2]`` with the least squared error (exact for K = 2).

    Each point is a complex number x + iy; the map is z * p + t, and least squares gives
    z = sum(conj(s_k) d_k) / sum(|s_k|^2) over the centred points, t = mean(dst) - z * mean(src)."""
    s = np.asarray(src, dtype=np.float64) @ [1, 1j]
    d = np.asarray(dst, dtype=np.float64) @ [1, 1j]
    if s.shape != d.shape or s.ndim != 1 or len(s) < 2:
        raise ValueError(f"similarity_transform needs two matching lists of at least two (x, y) points, "
                         f"got shapes {np.shape(src)} and {np.shape(dst)}.")
    sc, dc = s - s.mean(), d - d.mean()
    norm = float(np.sum(np.abs(sc) ** 2))
    if norm == 0:
        raise ValueError("the source points coincide; no alignment is defined.")
    z = np.sum(np.conj(sc) * dc) / norm
    t = d.mean() - z * s.mean()
    return np.array([[z.real, -z.imag, t.real], [z.imag, z.real, t.imag]])


def pick_eyes(boxes: list[tuple[int, int, int, int]], width: int) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The (left, right) eye centres from Haar eye boxes ``(x, y, w, h)`` in a face crop of ``width``:
    the largest box on each side of the face's vertical centre line, or ``None`` when a side has none."""
    sides: dict[str, tuple[int, int, int, int]] = {}
    for box in sorted(boxes, key=lambda b: -b[2] * b[3]):
        cx = box[0] + box[2] / 2
        side = "left" if cx < width / 2 else "right"
        sides.setdefault(side, box)
    if len(sides) < 2:
        return None
    centre = lambda b: (b[0] + b[2] / 2, b[1] + b[3] / 2)  # noqa: E731
    return centre(sides["left"]), centre(sides["right"])


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
        with open_image(files[i]) as im:
            frames.append(np.asarray(to_8bit(im, 3)))
    return frames


class FaceCropper:
    """Finds the largest face in an RGB frame and returns it as uint8 ``[C, size, size]``.

    Args:
        detector: ``"haar"`` (OpenCV's bundled cascade), a path to a cascade XML file, ``"mtcnn"``
            (facenet-pytorch's MTCNN, with five landmarks), or ``"none"`` (centre square of the frame).
        image_size: side of the output crop in pixels.
        channels: 1 (grayscale) or 3 (RGB).
        margin: fraction of the face box added on each side, so the chin and brows are kept.
        align: rotate and scale each face so that its landmarks sit at fixed points: MTCNN's five
            at ``FIVE_POINT_TEMPLATE`` (least squares), otherwise the two eye centres found by
            OpenCV's bundled Haar eye cascade (in the upper part of the face box) at
            ``EYE_TEMPLATE``; a face whose two eyes are not found is cropped unaligned and counted
            in ``unaligned``.
    """

    def __init__(self, detector: str = "haar", image_size: int = 48, channels: int = 1,
                 margin: float = 0.15, align: bool = False) -> None:
        self.detector, self.image_size, self.channels, self.margin = detector, image_size, channels, margin
        self.cascade = self.mtcnn = None
        if detector == "mtcnn":
            from .mtcnn import MtcnnDetector
            self.mtcnn = MtcnnDetector()
        elif detector != "none":
            self.cascade = self._load_cascade(detector)
        self.align = align
        self.eye_cascade = self._load_cascade(EYE_FILE, "eye") if align and self.mtcnn is None else None
        self.aligned = self.unaligned = 0

    @staticmethod
    def _load_cascade(detector: str, part: str = "face") -> Any:
        cv2 = require_cv2("face detection (--face-detector)" if part == "face" else "face alignment (--align)")
        if not hasattr(cv2, "CascadeClassifier"):
            raise ValueError(f"OpenCV {cv2.__version__} has no Haar face detector (OpenCV 5 moved it to "
                             f"opencv-contrib); install OpenCV 4 with pip install 'opencv-python-headless<5', "
                             f"or use opencv-contrib-python-headless and --face-detector PATH/{HAAR_FILE}, or "
                             f"--face-detector mtcnn, or --face-detector none when the frames are already faces.")
        if detector in ("haar", EYE_FILE):
            name = HAAR_FILE if detector == "haar" else EYE_FILE
            path = Path(cv2.data.haarcascades) / name
            if not path.is_file():
                raise ValueError(f"this OpenCV ({cv2.__version__}) ships no {name}; install "
                                 f"pip install 'opencv-python-headless<5'.")
        else:
            path = Path(detector).expanduser()
            if not path.is_file():
                raise ValueError(f"--face-detector {detector!r} is neither one of {', '.join(DETECTORS)} nor an "
                                 f"existing cascade XML file.")
        try:
            cascade = cv2.CascadeClassifier(str(path))
        except (cv2.error, SystemError):  # OpenCV's parser refuses it outright
            cascade = None
        if cascade is None or cascade.empty():
            raise ValueError(f"{path} is not a valid OpenCV cascade XML file.")
        return cascade

    def find(self, rgb: np.ndarray) -> tuple[tuple[int, int, int, int], np.ndarray | None] | None:
        """``(box, points)`` for the largest face, or ``None``: ``box`` = (x0, y0, x1, y1) of a square
        around it with the margin, clipped to the frame; ``points`` = MTCNN's ``[5, 2]`` landmarks in
        frame coordinates, ``None`` for the other detectors."""
        found = self.find_all(rgb, largest_only=True)
        return found[0] if found else None

    def find_all(self, rgb: np.ndarray, largest_only: bool = False
                 ) -> list[tuple[tuple[int, int, int, int], np.ndarray | None]]:
        """Every face as ``find`` gives the largest, largest first (the whole frame's centre square
        for ``"none"``)."""
        h, w = rgb.shape[:2]
        if self.cascade is None and self.mtcnn is None:
            side = min(h, w)
            return [(((w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2), None)]
        if self.mtcnn is not None:
            found = self.mtcnn.all_faces(rgb)[:1 if largest_only else None]
            faces = [((x0, y0, x1 - x0, y1 - y0), points) for (x0, y0, x1, y1), points in found]
        else:
            cv2 = require_cv2("face detection (--face-detector)")
            gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
            smallest = max(20, min(h, w) // 12)  # ignore tiny background faces
            boxes = self.cascade.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=3, minSize=(smallest, smallest))
            boxes = sorted((tuple(int(v) for v in b) for b in boxes), key=lambda b: -b[2] * b[3])
            faces = [(b, None) for b in boxes[:1 if largest_only else None]]
        out = []
        for (x, y, fw, fh), points in faces:
            side = int(max(fw, fh) * (1 + 2 * self.margin))
            cx, cy = int(x + fw / 2), int(y + fh / 2)
            x0, y0 = max(0, cx - side // 2), max(0, cy - side // 2)
            out.append(((x0, y0, min(w, x0 + side), min(h, y0 + side)), points))
        return out

    def face_box(self, rgb: np.ndarray) -> tuple[int, int, int, int] | None:
        """(x0, y0, x1, y1) of a square around the largest face, or ``None``."""
        found = self.find(rgb)
        return None if found is None else found[0]

    def eyes(self, rgb: np.ndarray, box: tuple[int, int, int, int]) -> tuple[tuple[float, float], ...] | None:
        """(left, right) eye centres in image coordinates within the face ``box`` (Haar eye
        cascade), or ``None``."""
        cv2 = require_cv2("face alignment (--align)")
        x0, y0, x1, y1 = box
        gray = cv2.cvtColor(np.ascontiguousarray(rgb[y0:y1, x0:x1]), cv2.COLOR_RGB2GRAY)
        w = x1 - x0
        upper = gray[: int(0.6 * (y1 - y0))]
        smallest = max(6, w // 12)
        boxes = [tuple(int(v) for v in b) for b in
                 self.eye_cascade.detectMultiScale(upper, scaleFactor=1.1, minNeighbors=3, minSize=(smallest, smallest))]
        pair = pick_eyes(boxes, w)
        if pair is None:
            return None
        (lx, ly), (rx, ry) = pair
        dx, dy = rx - lx, ry - ly
        if not 0.15 * w <= dx <= 0.75 * w or abs(dy) > 0.6 * dx:  # not a plausible pair of eyes
            return None
        return (lx + x0, ly + y0), (rx + x0, ry + y0)

    def __call__(self, rgb: np.ndarray) -> np.ndarray | None:
        found = self.find(rgb)
        return None if found is None else self.crop(rgb, *found)

    def crop(self, rgb: np.ndarray, box: tuple[int, int, int, int], points: np.ndarray | None) -> np.ndarray:
        """The face found at ``box`` (``points``: its landmarks, or None) as uint8 ``[C, size, size]``."""
        x0, y0, x1, y1 = box
        if not self.align:
            return to_face_array(Image.fromarray(rgb[y0:y1, x0:x1]), self.image_size, self.channels)
        if points is not None:
            template = FIVE_POINT_TEMPLATE
        else:
            points, template = self.eyes(rgb, (x0, y0, x1, y1)), EYE_TEMPLATE
        self.aligned += points is not None
        self.unaligned += points is None
        if points is None:
            return to_face_array(Image.fromarray(rgb[y0:y1, x0:x1]), self.image_size, self.channels)
        cv2 = require_cv2("face alignment (--align)")
        side = max(self.image_size, x1 - x0)  # warp at the face's own resolution, then resize smoothly
        matrix = similarity_transform(points, np.asarray(template) * side)
        warped = cv2.warpAffine(np.ascontiguousarray(rgb), matrix, (side, side),
                                flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return to_face_array(Image.fromarray(warped), self.image_size, self.channels)

    def resize_only(self, rgb: np.ndarray) -> np.ndarray:
        """A frame that is already a face crop, as ``[C, size, size]``."""
        return to_face_array(Image.fromarray(rgb), self.image_size, self.channels)


def load_face_crops(paths: list[Path], image_size: int, channels: int, detector: str,
                    cache_dir: str | Path | None = None, strict: bool = False,
                    desc: str = "finding faces", align: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Like ``cache.load_images``, but each image is first cropped to its largest face by
    ``detector`` (``"none"``: the images are used whole). Images with no face found are skipped
    and counted in a warning (never a background crop); unreadable ones likewise, or stop the load
    with ``strict``. ``align``: landmarks at fixed points (``FaceCropper``); faces without two eyes
    found are counted in a warning. Cached by file signature, detector and alignment."""
    if detector == "none" and not align:
        return load_images(paths, image_size, channels, cache_dir, strict, desc=desc)
    key = file_signature(paths, "faces", detector, image_size, channels, *(["aligned"] if align else []))
    cached = read_entry(key, cache_dir)
    if cached is None:
        cropper = FaceCropper(detector, image_size, channels, align=align)
        crops, ok, no_face, bad = [], [], [], []
        for i, path in enumerate(tqdm(paths, desc=desc, unit="img", disable=None, leave=False)):
            try:
                face = cropper(decode_image_rgb(path))
            except (OSError, ValueError) as err:
                if strict:
                    raise ValueError(f"image {display_path(path)} could not be decoded ({err}); fix or remove it, "
                                     f"or drop --strict to skip unreadable images.") from None
                bad.append(display_path(path))
                continue
            if face is None:
                no_face.append(display_path(path))
                continue
            crops.append(face)
            ok.append(i)
        array = np.stack(crops) if crops else np.zeros((0, channels, image_size, image_size), np.uint8)
        cached = (array, {"ok": ok, "no_face": no_face, "skipped": bad, "unaligned": cropper.unaligned})
        write_entry(key, *cached, cache_dir)
    array, meta = cached
    if meta["skipped"]:
        warnings.warn(f"skipped {len(meta['skipped'])} unreadable image(s), first: {meta['skipped'][:3]}", stacklevel=2)
    if meta.get("unaligned"):
        warnings.warn(f"{meta['unaligned']} of {len(meta['ok'])} faces had no two eyes found by --align and were "
                      f"cropped unaligned", stacklevel=2)
    if meta["no_face"]:
        warnings.warn(f"{len(meta['no_face'])} of {len(paths)} images had no face found by --face-detector "
                      f"{detector} and were left out, first: {meta['no_face'][:3]}", stacklevel=2)
    return torch.from_numpy(array), torch.tensor(meta["ok"], dtype=torch.long)
