"""Decode images once: a cache of resized uint8 arrays, outside the dataset folder.

The cache key covers every source file's path, size and modification time plus the output size
and channel count, so a changed file or another image size makes a new entry instead of reusing
a stale one.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from episodes import atomic_open

CACHE_VERSION = 2  # 2: entries carry their key, shape and checksum
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".pgm", ".ppm"}  # files read as images


def default_cache_dir() -> Path:
    """``$FEWSHOT_FER_CACHE``, else ``$XDG_CACHE_HOME/fewshot-fer``, else ``~/.cache/fewshot-fer``."""
    if os.environ.get("FEWSHOT_FER_CACHE"):
        return Path(os.environ["FEWSHOT_FER_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "fewshot-fer"


def file_signature(paths: Sequence[Path], *settings: object) -> str:
    """A short hash of ``settings`` and every file's resolved path, size and modification time."""
    h = hashlib.sha1("/".join([f"v{CACHE_VERSION}", *map(str, settings)]).encode())
    real_dirs: dict[str, str] = {}  # resolve each folder once, not each of 28,709 files
    for p in paths:
        folder, name = os.path.split(os.fspath(p))
        if folder not in real_dirs:
            real_dirs[folder] = os.path.realpath(folder or ".")
        st = os.stat(p)
        h.update(f"\n{os.path.join(real_dirs[folder], name)}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


def cache_root(cache_dir: str | Path | None = None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir else default_cache_dir()


def array_digest(array: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(array).data).hexdigest()


def read_entry(key: str, cache_dir: str | Path | None = None) -> tuple[np.ndarray, dict] | None:
    """The cached array and its metadata under ``key``, or ``None`` when absent. An entry that
    does not check out (unreadable, truncated, written for another key, or whose array does not
    match its recorded shape and checksum) is reported by path, moved aside and treated as absent,
    so the caller decodes again and writes a good one."""
    root = cache_root(cache_dir)
    array_path, meta_path = root / f"{key}.npy", root / f"{key}.json"
    if not (array_path.is_file() and meta_path.is_file()):
        return None
    try:
        meta = json.loads(meta_path.read_text())
        array = np.load(array_path, allow_pickle=False)
        problem = ("it was written for another key" if meta.get("key") != key else
                   "its array does not match its recorded shape and checksum"
                   if [list(array.shape), str(array.dtype), array_digest(array)] !=
                   [meta.get("shape"), meta.get("dtype"), meta.get("sha1")] else None)
    except (OSError, ValueError, EOFError, AttributeError) as err:  # truncated, overwritten, not JSON
        problem = f"it cannot be read ({str(err).splitlines()[0] if str(err) else type(err).__name__})"
    if problem is None:
        return array, meta
    moved = []
    for path in (array_path, meta_path):
        aside = path.with_name(path.name + ".corrupt")
        try:
            os.replace(path, aside)
            moved.append(aside.name)
        except OSError:
            pass
    where = f"moved aside as {', '.join(moved)}" if moved else "could not be moved aside"
    warnings.warn(f"cache entry {array_path} is damaged ({problem}); {where}, decoding again.", stacklevel=3)
    return None


_UNWRITABLE_WARNED: set[str] = set()


def write_entry(key: str, array: np.ndarray, meta: dict, cache_dir: str | Path | None = None) -> bool:
    """Store ``array`` and ``meta`` atomically (the array first, so a present .json means
    complete), with the key, shape and checksum ``read_entry`` checks. A cache folder that cannot
    be written is reported once and skipped (the data stays decoded in memory); returns whether
    the entry was written."""
    root = cache_root(cache_dir)
    try:
        root.mkdir(parents=True, exist_ok=True)
        with atomic_open(root / f"{key}.npy", "wb") as f:
            np.save(f, array)
        with atomic_open(root / f"{key}.json") as f:
            json.dump({"version": CACHE_VERSION, "key": key, "shape": list(array.shape), "dtype": str(array.dtype),
                       "sha1": array_digest(array), **meta}, f)
        return True
    except OSError as err:
        if str(root) not in _UNWRITABLE_WARNED:
            _UNWRITABLE_WARNED.add(str(root))
            warnings.warn(f"cache folder {root} cannot be written ({err.strerror or err}); decoding in memory "
                          f"without caching (set --cache-dir or $FEWSHOT_FER_CACHE to a writable folder).",
                          stacklevel=3)
        return False


def cache_size(cache_dir: str | Path | None = None) -> tuple[int, int]:
    """``(entries, bytes)`` of the cache folder (entries: complete ``.json`` + ``.npy`` pairs)."""
    root = cache_root(cache_dir)
    if not root.is_dir():
        return 0, 0
    files = [p for p in root.iterdir() if p.is_file()]
    return sum(p.suffix == ".json" for p in files), sum(p.stat().st_size for p in files)


def clear_cache(cache_dir: str | Path | None = None) -> tuple[int, int]:
    """Delete every cache file (entries, moved-aside damaged ones, left-over temporary files) of
    the cache folder; returns ``(files, bytes)`` removed. Only files fewshot-fer writes are touched."""
    root = cache_root(cache_dir)
    removed, freed = 0, 0
    if not root.is_dir():
        return 0, 0
    for path in root.iterdir():
        if path.is_file() and (path.suffix in (".npy", ".json") or path.name.endswith((".corrupt", ".tmp"))):
            freed += path.stat().st_size
            path.unlink()
            removed += 1
    return removed, freed


def to_8bit(im: Image.Image, channels: int) -> Image.Image:
    """``im`` as an 8-bit ``L`` (``channels`` 1) or ``RGB`` (3) image, whatever its mode: 16-bit and
    32-bit integer greyscale are scaled from their range (Pillow's ``convert`` would clip them to
    white), float images from 0..1 (or clipped to 0..255), transparency composited onto white,
    CMYK, palette and bilevel images converted."""
    target = "L" if channels == 1 else "RGB"
    if im.mode.startswith("I;16") or im.mode in ("I", "F"):
        arr = np.asarray(im).astype(np.float64)
        if im.mode.startswith("I;16"):
            arr = arr / 257.0  # 0..65535 -> 0..255
        elif im.mode == "F" and arr.size and arr.max() <= 1.0:
            arr = arr * 255.0
        elif im.mode == "I" and arr.size and arr.max() > 255:
            arr = arr / 257.0 if arr.max() <= 65535 else (arr - arr.min()) * 255.0 / max(arr.max() - arr.min(), 1)
        grey = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8), "L")
        return grey if channels == 1 else grey.convert("RGB")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        im = Image.alpha_composite(white, rgba)
    return im.convert(target)


def to_face_array(im: Image.Image, image_size: int, channels: int) -> np.ndarray:
    """A PIL image (any mode, see ``to_8bit``) as uint8 ``[channels, image_size, image_size]``
    (bilinear resize)."""
    im = to_8bit(im, channels)
    if im.size != (image_size, image_size):
        im = im.resize((image_size, image_size), Image.BILINEAR)
    arr = np.asarray(im, dtype=np.uint8)
    return arr[None] if channels == 1 else arr.transpose(2, 0, 1)


def decode_image_rgb(path: Path) -> np.ndarray:
    """One image file as a full-size uint8 RGB array ``[H, W, 3]`` (for face detection)."""
    try:
        with Image.open(path) as im:
            return np.asarray(to_8bit(im, 3))
    except Image.DecompressionBombError as err:
        raise ValueError(f"{path} is too large to decode safely ({err})") from None
    except UnidentifiedImageError as err:
        raise ValueError(str(err)) from None


def decode_image(path: Path, image_size: int, channels: int) -> np.ndarray:
    """One image file as uint8 ``[channels, image_size, image_size]``; an image above Pillow's
    decompression-bomb limit is a ``ValueError`` naming its size (skipped like any unreadable file)."""
    try:
        with Image.open(path) as im:
            return to_face_array(im, image_size, channels)
    except Image.DecompressionBombError as err:
        raise ValueError(f"{path} is too large to decode safely ({err})") from None


def load_images(paths: Sequence[Path], image_size: int, channels: int,
                cache_dir: str | Path | None = None, strict: bool = False,
                desc: str = "decoding") -> tuple[torch.Tensor, torch.Tensor]:
    """Decoded images ``[n_ok, C, S, S]`` uint8 and the indices of ``paths`` that decoded.

    Unreadable or truncated images are skipped and counted with a warning, or stop the load
    with ``strict``. The result is cached under ``cache_dir`` (default ``default_cache_dir()``).
    """
    paths = [Path(p) for p in paths]
    key = file_signature(paths, image_size, channels)
    cached = read_entry(key, cache_dir)
    if cached is not None:
        return torch.from_numpy(cached[0]), torch.tensor(cached[1]["ok"], dtype=torch.long)

    out = np.zeros((len(paths), channels, image_size, image_size), dtype=np.uint8)
    ok, bad = [], []
    for i, p in enumerate(tqdm(paths, desc=desc, unit="img", disable=None, leave=False)):
        try:
            out[len(ok)] = decode_image(p, image_size, channels)
            ok.append(i)
        except (OSError, UnidentifiedImageError, ValueError) as err:
            if strict:
                raise ValueError(f"image {p} could not be decoded ({err}); fix or remove it, or drop "
                                 f"--strict to skip unreadable images.") from None
            bad.append(str(p))
    if bad:
        warnings.warn(f"skipped {len(bad)} unreadable image(s), first: {bad[:3]}", stacklevel=2)
    out = out[: len(ok)]
    write_entry(key, out, {"count": len(paths), "ok": ok, "skipped": bad,
                           "image_size": image_size, "channels": channels}, cache_dir)
    return torch.from_numpy(out), torch.tensor(ok, dtype=torch.long)
