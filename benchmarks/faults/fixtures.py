"""Tiny inputs in the exact real layouts, written fresh for each case: a FER2013 folder, a
support folder for ``predict``, faulty images of every kind, malicious and broken checkpoints,
and one small trained run shared by the cases that need a model."""

from __future__ import annotations

import atexit
import pickle
import shutil
import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

FOLDERS = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
TINY_TRAIN = ["--image-size", "24", "--way", "3", "--shot", "2", "--query", "3", "--episodes-per-epoch", "4",
              "--val-episodes", "5", "--seed", "3", "--epochs", "2"]
MARKER = "PWNED"
IMAGE_MODES = ("16-bit-grey", "32-bit-int", "float", "rgba", "grey-alpha", "palette", "cmyk", "rgb")


def face(level: int, size: int = 48, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed + level)
    return np.clip(level + rng.normal(0, 12, (size, size)), 0, 255).astype(np.uint8)


def fer2013(root: Path, per_class: int = 3) -> Path:
    """The Kaggle folder layout (``train/<class>/Training_N.jpg``, ``test/<class>/PrivateTest_N.jpg``);
    class c's faces are grey level 20 + 30 c."""
    n = 0
    for c, folder in enumerate(FOLDERS):
        for split, prefix in (("train", "Training"), ("test", "PrivateTest")):
            for k in range(per_class):
                path = root / split / folder / f"{prefix}_{1000 + n}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(face(20 + 30 * c, seed=k)).save(path)
                n += 1
    return root


def folder(root: Path) -> Path:
    """The generic ``<root>/<class>/<image>`` layout: 3 classes of 4 faces."""
    for c, name in enumerate(("anger", "happiness", "surprise")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(4):
            Image.fromarray(face(30 + 80 * c, seed=k)).save(root / name / f"S{c}{k}_001.png")
    return root


def support(root: Path, classes: tuple[str, ...] = ("smirk", "frown", "wide eyes")) -> Path:
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for k in range(2):
            Image.fromarray(face(40 + 90 * c, 40, seed=k)).save(root / name / f"{k}.png")
    return root


class Payload:
    """Unpickling this runs ``touch MARKER``: a checkpoint must never be unpickled unsafely."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def malicious_checkpoints(folder: Path) -> dict[str, Path]:
    """Checkpoints whose loading would create ``folder/MARKER`` if code in them ran."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / MARKER
    files = {}
    files["torch-zip"] = folder / "evil.pt"
    torch.save({"model": Payload(marker), "model_config": {}}, files["torch-zip"])
    files["plain-pickle"] = folder / "evil.pkl"
    files["plain-pickle"].write_bytes(pickle.dumps({"model": Payload(marker)}))
    files["legacy-torch"] = folder / "legacy.pt"
    torch.save({"model": Payload(marker)}, files["legacy-torch"], _use_new_zipfile_serialization=False)
    # an evil entry added inside a real checkpoint's zip
    files["evil-entry"] = folder / "patched.pt"
    shutil.copy(tiny_run() / "best.pt", files["evil-entry"])
    with zipfile.ZipFile(files["evil-entry"], "a") as z:
        name = next(n for n in z.namelist() if n.endswith("data.pkl"))
        z.writestr(name.replace("data.pkl", "extra.pkl"), pickle.dumps(Payload(marker)))
    return files


def broken_checkpoints(folder: Path) -> dict[str, Path]:
    """Files that are not usable checkpoints, each a different way."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    real = (tiny_run() / "best.pt").read_bytes()
    files = {"empty": folder / "empty.pt", "text": folder / "text.pt", "truncated": folder / "cut.pt",
             "state-dict": folder / "weights.pth", "folder": folder / "run", "missing": folder / "missing.pt",
             "junk-safetensors": folder / "junk.safetensors", "tensor": folder / "tensor.pt"}
    files["empty"].write_bytes(b"")
    files["text"].write_text("101 not a checkpoint\n")
    files["truncated"].write_bytes(real[: len(real) // 2])
    torch.save({"conv.weight": torch.zeros(2, 1, 3, 3)}, files["state-dict"])
    files["folder"].mkdir()
    files["junk-safetensors"].write_text("not safetensors at all")
    torch.save(torch.zeros(3), files["tensor"])
    return files


def image_faults(folder: Path) -> dict[str, Path]:
    """Unreadable image files, each broken a different way."""
    folder.mkdir(parents=True, exist_ok=True)
    png, jpg = folder / "ok.png", folder / "ok.jpg"
    Image.fromarray(face(100)).save(png)
    Image.fromarray(face(100)).save(jpg)
    files = {"zero-bytes": b"", "text": b"hello, I am not an image\n",
             "truncated-png": png.read_bytes()[:200], "truncated-jpeg": jpg.read_bytes()[:300],
             "random-bytes": np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes(),
             "html": b"<!DOCTYPE html><html><body>404 Not Found</body></html>"}
    out = {}
    for name, data in files.items():
        out[name] = folder / f"{name}.png"
        out[name].write_bytes(data)
    png.unlink()
    jpg.unlink()
    return out


def image_modes(folder: Path, level: int = 140) -> dict[str, Path]:
    """The same grey level stored in every image mode a photo folder may hold."""
    folder.mkdir(parents=True, exist_ok=True)
    grey = np.full((48, 48), level, np.uint8)
    images = {"16-bit-grey": Image.fromarray((grey.astype(np.uint16) * 257)),  # I;16
              "32-bit-int": Image.fromarray(grey.astype(np.int32) * 257, mode="I"),
              "float": Image.fromarray(grey.astype(np.float32) / 255.0, mode="F"),
              "rgba": Image.fromarray(np.dstack([grey] * 3 + [np.full_like(grey, 255)]), mode="RGBA"),
              "grey-alpha": Image.fromarray(np.dstack([grey, np.full_like(grey, 255)]), mode="LA"),
              "palette": Image.fromarray(np.dstack([grey] * 3)).convert("P"),
              "cmyk": Image.fromarray(np.dstack([grey] * 3)).convert("CMYK"),
              "rgb": Image.fromarray(np.dstack([grey] * 3))}
    assert tuple(images) == IMAGE_MODES
    out = {}
    for name, image in images.items():
        suffix = ".jpg" if name == "cmyk" else (".tiff" if name in ("float", "32-bit-int") else ".png")
        out[name] = folder / f"{name}{suffix}"
        image.save(out[name])
    return out


@lru_cache(maxsize=1)
def tiny_run() -> Path:
    """A ProtoNet Conv-4 trained 2 epochs on synthetic faces (once per process)."""
    from fewshot_fer.commands import train

    where = Path(tempfile.mkdtemp(prefix="fewshot-fer-faults-"))
    atexit.register(shutil.rmtree, where, ignore_errors=True)
    if train.main([*TINY_TRAIN, "--output", str(where), "--name", "run"]) != 0:
        raise RuntimeError("the tiny training run failed")
    return where / "run"
