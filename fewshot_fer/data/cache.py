"""Decode images once: a cache of resized uint8 arrays, outside the dataset folder.

The cache key covers every source file's resolved path, size and a hash of its content (the
whole file up to 8 MB; beyond, its first and last megabyte and its modification time), plus the
output size and channel count: a changed or replaced file, even one of the same size with its old
modification time, or another image size makes a new entry instead of reusing a stale one.

The cache folder holds a manifest (``MANIFEST``) naming every file fewshot-fer wrote there;
``clear_cache`` deletes only those, and refuses a folder without a manifest, so a user's own
``.json`` or ``.npy`` files beside the cache are never touched.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zlib
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from episodes import atomic_open

from .images import IMAGE_SUFFIXES, display_path, open_image  # noqa: F401 (IMAGE_SUFFIXES: re-exported)

CACHE_VERSION = 3  # 2: entries carry their key, shape and checksum; 3: content-keyed, with a manifest
MANIFEST = "fewshot-fer-cache.manifest"  # one file name a line: what this cache wrote
WHOLE_HASH_BYTES = 8 * 2**20  # files up to this size are hashed whole; larger ones (videos) by their ends


def default_cache_dir() -> Path:
    """``$FEWSHOT_FER_CACHE``, else ``$XDG_CACHE_HOME/fewshot-fer``, else ``~/.cache/fewshot-fer``."""
    if os.environ.get("FEWSHOT_FER_CACHE"):
        return Path(os.environ["FEWSHOT_FER_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "fewshot-fer"


def content_hash(path: str | os.PathLike, size: int) -> int:
    """CRC-32 of the file's bytes; beyond ``WHOLE_HASH_BYTES`` (videos, a 300 MB CSV) of its first and
    last megabyte mixed with its modification time, so signing a dataset stays cheap."""
    with open(path, "rb") as f:
        if size <= WHOLE_HASH_BYTES:
            return zlib.crc32(f.read())
        head = zlib.crc32(f.read(2**20))
        f.seek(-(2**20), os.SEEK_END)
        return zlib.crc32(f.read(), head) ^ (os.stat(f.fileno()).st_mtime_ns & 0xFFFFFFFF)


def file_signature(paths: Sequence[Path], *settings: object) -> str:
    """A short hash of ``settings`` and every file's resolved path, size and content hash."""
    h = hashlib.sha1("/".join([f"v{CACHE_VERSION}", *map(str, settings)]).encode())
    real_dirs: dict[str, str] = {}  # resolve each folder once, not each of 28,709 files
    for p in paths:
        folder, name = os.path.split(os.fspath(p))
        if folder not in real_dirs:
            real_dirs[folder] = os.path.realpath(folder or ".")
        size = os.stat(p).st_size
        h.update(f"\n{os.path.join(real_dirs[folder], name)}|{size}|{content_hash(p, size)}".encode("utf-8", "surrogateescape"))
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
            record_written(root, aside.name)
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
        record_written(root, f"{key}.npy", f"{key}.json")  # before writing: a crash leaves no unlisted file
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


def record_written(root: Path, *names: str) -> None:
    """Add ``names`` to the cache manifest of ``root`` (one appended write: safe with several processes)."""
    path = root / MANIFEST
    header = "" if path.exists() else ("# fewshot-fer decoded-image cache: the files it wrote here, one a line; "
                                       "'fewshot-fer data cache --clear' deletes only these\n")
    with open(path, "a", encoding="utf-8") as f:
        f.write(header + "".join(f"{n}\n" for n in names))


def written_files(root: Path) -> list[Path] | None:
    """The files of ``root`` its manifest lists (that exist, with the temporary files of their
    atomic writes), or ``None`` when ``root`` has no manifest (it is not a fewshot-fer cache)."""
    path = root / MANIFEST
    if not path.is_file():
        return None
    names = {line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
             if line.strip() and not line.startswith("#")}
    names = {n for n in names if n == Path(n).name and n != MANIFEST}  # never a path out of the folder
    found = [root / n for n in sorted(names) if (root / n).is_file()]
    found += [p for p in root.glob(".*.tmp") if p.is_file() and p.name[1:].rsplit(".", 2)[0] in names]
    return found


def cache_size(cache_dir: str | Path | None = None) -> tuple[int, int]:
    """``(entries, bytes)`` of the cache folder's own files (entries: complete ``.json`` + ``.npy`` pairs)."""
    files = written_files(cache_root(cache_dir)) or []
    return sum(p.suffix == ".json" for p in files), sum(p.stat().st_size for p in files)


def clear_cache(cache_dir: str | Path | None = None) -> tuple[int, int]:
    """Delete the files the cache's manifest lists (entries, moved-aside damaged ones, left-over
    temporary files), then the manifest; returns ``(files, bytes)`` removed. Any other file is left
    alone; a folder with no manifest is refused with a ``ValueError`` (a missing one is empty)."""
    root = cache_root(cache_dir)
    if not root.exists():
        return 0, 0
    files = written_files(root) if root.is_dir() else None
    if files is None:
        raise ValueError(f"{display_path(root)} is not a fewshot-fer cache (it holds no {MANIFEST}); nothing was "
                         f"deleted. Name the cache folder with --cache-dir.")
    removed, freed = 0, 0
    for path in files:
        freed += path.stat().st_size
        path.unlink()
        removed += 1
    (root / MANIFEST).unlink()
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
    """One image file, upright, as a full-size uint8 RGB array ``[H, W, 3]`` (for face detection);
    a ``ValueError`` sentence for what ``images.open_image`` refuses."""
    with open_image(path) as im:
        return np.asarray(to_8bit(im, 3))


def decode_image(path: Path, image_size: int, channels: int) -> np.ndarray:
    """One image file, upright, as uint8 ``[channels, image_size, image_size]``; what
    ``images.open_image`` refuses (not a regular file, too many pixels) is a ``ValueError``."""
    with open_image(path) as im:
        return to_face_array(im, image_size, channels)


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
                raise ValueError(f"image {display_path(p)} could not be decoded ({err}); fix or remove it, or drop "
                                 f"--strict to skip unreadable images.") from None
            bad.append(display_path(p))
    if bad:
        warnings.warn(f"skipped {len(bad)} unreadable image(s), first: {bad[:3]}", stacklevel=2)
    out = out[: len(ok)]
    write_entry(key, out, {"count": len(paths), "ok": ok, "skipped": bad,
                           "image_size": image_size, "channels": channels}, cache_dir)
    return torch.from_numpy(out), torch.tensor(ok, dtype=torch.long)
