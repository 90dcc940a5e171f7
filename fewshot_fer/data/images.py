"""The one boundary through which image files enter: which files count as images, how they are
listed, opened and named in messages.

- Only regular files are opened: a named pipe, device or socket called ``x.jpg`` is skipped and
  counted (``stat`` first; opening a pipe would block forever).
- One set of accepted formats for folders and for named files (``IMAGE_SUFFIXES``); an animated
  GIF or WebP gives its first frame.
- EXIF orientation is applied (``ImageOps.exif_transpose``): a phone's portrait photo stored
  sideways with Orientation 6 is read upright, wherever the image enters (datasets, support
  faces, predict inputs, face detection).
- An image of more than ``MAX_PIXELS`` pixels is refused by a sentence naming the file and the
  limit, before it is decoded.
- A file name that is not valid UTF-8 is kept as it is (Python's surrogate escapes) and shown in
  messages and CSVs by its escaped form (``display_path``).
"""

from __future__ import annotations

import contextlib
import os
import stat
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".pgm", ".ppm", ".gif", ".webp"})
MAX_PIXELS = 120_000_000  # a 108-megapixel phone photo fits; decoding it as RGB takes ~360 MB


def display_path(path: str | os.PathLike) -> str:
    """``path`` as printable text: bytes of a file name that are not UTF-8 appear as ``\\xNN``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def is_regular_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` is (or links to) a regular file; ``False`` for pipes, devices, sockets,
    folders, dangling links and paths that do not exist."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def is_special_file(path: str | os.PathLike) -> bool:
    """Whether ``path`` exists but is neither a regular file nor a folder (pipe, device, socket)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


@dataclass
class Listing:
    """Files found under some folders: the regular files with an accepted suffix (``files``,
    sorted) and the paths with such a suffix that are not regular files (``special``: skipped)."""

    files: list[Path] = field(default_factory=list)
    special: list[Path] = field(default_factory=list)

    def note(self) -> str:
        """A clause for a summary line, or ``""`` when nothing was skipped."""
        if not self.special:
            return ""
        return (f"{len(self.special)} path(s) named like images but not regular files (pipes, devices, sockets, "
                f"broken links) skipped, first: {display_path(self.special[0])}")


def list_files(folder: Path, suffixes: Iterable[str] = IMAGE_SUFFIXES, recursive: bool = True) -> Listing:
    """Every regular file under ``folder`` whose suffix (any case) is in ``suffixes``, sorted;
    non-regular files with such a suffix are listed in ``special``, never opened."""
    wanted = {s.lower() for s in suffixes}
    found = Listing()
    for path in sorted(folder.rglob("*") if recursive else folder.iterdir()):
        if path.suffix.lower() not in wanted:
            continue
        if is_regular_file(path):
            found.files.append(path)
        elif not path.is_dir():
            found.special.append(path)
    return found


def check_readable_file(path: Path, what: str = "image") -> None:
    """A one-sentence ``ValueError`` unless ``path`` is a regular file (checked before ``open``)."""
    if not is_regular_file(path):
        kind = ("does not exist" if not os.path.lexists(path) else "is a link to nothing" if not os.path.exists(path)
                else "is a folder" if os.path.isdir(path) else "is not a regular file (a pipe, device or socket)")
        raise ValueError(f"{what} {display_path(path)} {kind}; only regular files are read.")


@contextlib.contextmanager
def open_image(path: Path) -> Iterator[Image.Image]:
    """``path`` opened as an upright PIL image (EXIF orientation applied; a GIF's or WebP's first
    frame), or a one-sentence ``ValueError``: not a regular file, not an image, more than
    ``MAX_PIXELS`` pixels. ``OSError`` from reading (a truncated file) passes through."""
    check_readable_file(path)
    try:
        im = Image.open(path)
    except UnidentifiedImageError:
        raise ValueError(f"{display_path(path)} is not an image file Pillow can read.") from None
    except Image.DecompressionBombError as err:
        raise ValueError(f"{display_path(path)} is too large to decode safely ({err}).") from None
    with im:
        width, height = im.size
        if width * height > MAX_PIXELS:
            raise ValueError(f"image {display_path(path)} has {width} x {height} pixels, more than the limit of "
                             f"{MAX_PIXELS:,}; resize it first.")
        if getattr(im, "n_frames", 1) > 1:
            im.seek(0)
        try:
            upright = ImageOps.exif_transpose(im)
        except (SyntaxError, ValueError, TypeError, struct.error):  # a damaged EXIF block: use the pixels as stored
            upright = im
        yield upright if upright is not None else im

