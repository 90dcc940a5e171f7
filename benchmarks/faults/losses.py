"""Fault families where work or files could be lost: numbers that size work (refused before any
work, never a silent hang), training that diverges (never a NaN ``best.pt``), the cache's
``--clear`` beside a user's own files, and an export that fails half-way (the old model folder
stays whole).
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from . import fixtures as fx
from .boundaries import DATA, exported, predict, tiny
from .runner import Case, Outcome

TRAIN = ["train", *fx.TINY_TRAIN]


def number_cases() -> list[Case]:
    """Every number that sizes work, far too large or negative: one sentence before any work."""
    def ev(*extra: str):
        return lambda t: ["evaluate", "--checkpoint", tiny(), "--episodes", "3", *extra, "--output", str(t / "ev")]

    def face(tmp: Path) -> Path:
        Image.fromarray(fx.face(90)).save(tmp / "face.png")
        return tmp / "face.png"
    table = [
        ("train --val-episodes 10^9", lambda t: [*TRAIN, "--val-episodes", "1000000000", "--output", str(t / "r")],
         r"\(--val-episodes\) must be at most 100,000"),
        ("train --seed 10^30", lambda t: [*TRAIN, "--seed", str(10**30), "--output", str(t / "r")],
         r"\(--seed\) must be at most"),
        ("train --workers -1", lambda t: [*TRAIN, "--workers", "-1", "--output", str(t / "r")],
         r"\(--workers\) must be 0 or more"),
        ("train --image-size 5000", lambda t: [*TRAIN, "--image-size", "5000", "--output", str(t / "r")],
         r"\(--image-size\) must be at most 1,024"),
        ("train --epochs 10^9", lambda t: [*TRAIN, "--epochs", "1000000000", "--output", str(t / "r")],
         r"\(--epochs\) must be at most"),
        ("train transductive_steps=10^9", lambda t: [*TRAIN, "--learner-option", "transductive_steps=1000000000",
                                                     "--output", str(t / "r")], "transductive_steps must be from 0"),
        ("evaluate --episodes 10^9", ev("--episodes", "1000000000"), "--episodes must be at most 100,000"),
        ("evaluate --query 10^6", ev("--query", "1000000"), "--query must be at most"),
        ("predict --clip-frames 0", lambda t: predict(t, face(t), extra=("--clip-frames", "0")),
         "--clip-frames must be at least 1"),
        ("predict --clip-frames 10^9", lambda t: predict(t, face(t), extra=("--clip-frames", "1000000000")),
         "--clip-frames must be at most 1,000"),
        ("export --calibration-episodes 10^9",
         lambda t: ["export", "--checkpoint", tiny(), "--support", str(fx.support(t / "s")), "--out", str(t / "m"),
                    "--calibration-episodes", "1000000000"], "--calibration-episodes must be at most 100,000"),
        ("selftrain --threshold 2", lambda t: ["selftrain", "--threshold", "2", "--output", str(t / "r")],
         r"\(--threshold\) must be in \[0, 1\]"),
    ]
    fast = ("train --val-episodes 10^9", "train --workers -1", "evaluate --episodes 10^9", "selftrain --threshold 2",
            "predict --clip-frames 0")
    return [Case("numbers", name, make, error=error, timeout=60, slow=name not in fast) for name, make, error in table]


def divergence_cases() -> list[Case]:
    """``--lr 1e30``: the run stops with a sentence; no checkpoint holds non-finite weights."""
    def finite_checkpoints(tmp: Path, outcome: Outcome) -> str | None:
        from fewshot_fer.weights import load_checkpoint

        for path in sorted((tmp / "r").rglob("*.pt")):
            state = load_checkpoint(path)["model"]
            if not all(bool(torch.isfinite(v).all()) for v in state.values() if v.is_floating_point()):
                return f"{path.name} holds non-finite weights"
        return None
    return [Case("divergence", f"{command} --lr 1e30", lambda t, c=command, f=flags: [c, *f, "--lr", "1e30",
                                                                                     "--output", str(t / "r")],
                 error=r"loss became (NaN|inf|-inf) at .*; lower --lr", check=finite_checkpoints, slow=slow)
            for command, flags, slow in (
                ("train", fx.TINY_TRAIN, False),
                ("pretrain", ["--image-size", "24", "--epochs", "1", "--batch-size", "16", "--val-episodes", "2",
                              "--val-way", "3", "--val-shot", "1", "--val-query", "2"], True))]


def data_loss_cases() -> list[Case]:
    def cache_with_mine(tmp: Path) -> list[str]:
        fx.folder(tmp / DATA)
        from fewshot_fer.data import create_dataset

        create_dataset("folder", "all", tmp / DATA, 48, 1, cache_dir=tmp / "cache")
        (tmp / "cache" / "mine.json").write_text("{}")
        np.save(tmp / "cache" / "mine.npy", np.zeros(3))
        (tmp / "cache" / "0123456789abcdef0123.json").write_text("{}")  # named like an entry, not written by us
        return ["data", "cache", "--cache-dir", str(tmp / "cache"), "--clear"]

    def mine_kept(tmp: Path, outcome: Outcome) -> str | None:
        left = sorted(p.name for p in (tmp / "cache").iterdir())
        want = ["0123456789abcdef0123.json", "mine.json", "mine.npy"]
        return None if left == want else f"left in the cache folder: {left}"

    def not_a_cache(tmp: Path) -> list[str]:
        (tmp / "arrays").mkdir()
        np.save(tmp / "arrays" / "features.npy", np.zeros(3))
        return ["data", "cache", "--cache-dir", str(tmp / "arrays"), "--clear"]

    def untouched(tmp: Path, outcome: Outcome) -> str | None:
        return None if (tmp / "arrays" / "features.npy").is_file() else "features.npy was deleted"

    def half_export(tmp: Path) -> list[str]:
        model = exported(tmp)
        (tmp / "before").write_bytes(b"".join((model / n).read_bytes() for n in sorted(p.name for p in model.iterdir())))
        return ["export", "--checkpoint", tiny(), "--support", str(fx.support(tmp / "other", ("x", "y"))), "--out",
                str(model), "--reject-rate", "0"]

    def old_model_whole(tmp: Path, outcome: Outcome) -> str | None:
        model = tmp / "model"
        now = b"".join((model / n).read_bytes() for n in sorted(p.name for p in model.iterdir()))
        return None if now == (tmp / "before").read_bytes() else "the old model folder was changed"

    from safetensors.torch import save

    def second_write_fails(tensors, *args, **kwargs):  # the support file, after the weights were written
        if "support_x" in tensors:
            raise OSError(28, "No space left on device", "support.safetensors")
        return save(tensors, *args, **kwargs)

    def user_folder(tmp: Path) -> list[str]:
        (tmp / "mine").mkdir()
        (tmp / "mine" / "notes.txt").write_text("mine")
        return ["export", "--checkpoint", tiny(), "--support", str(fx.support(tmp / "s")), "--out", str(tmp / "mine"),
                "--reject-rate", "0"]
    return [Case("data loss", "data cache --clear beside a user's .json and .npy", cache_with_mine, check=mine_kept),
            Case("data loss", "data cache --clear on a folder that is not a cache", not_a_cache,
                 error="is not a fewshot-fer cache", check=untouched),
            Case("data loss", "re-export fails at its second file (full disk)", half_export,
                 error="(?i)no space left on device", check=old_model_whole,
                 patch=("safetensors.torch.save", second_write_fails)),
            Case("data loss", "export into a folder of the user's", user_folder, error="holds files export did not write",
                 check=lambda t, o: None if (t / "mine" / "notes.txt").read_text() == "mine" else "notes.txt changed")]


def stale_cache_case() -> Case:
    """An image replaced by another of the same size, with its old modification time."""
    def make(tmp: Path) -> list[str]:
        import os

        fx.folder(tmp / DATA)
        (tmp / DATA / "contempt").mkdir()
        path = tmp / DATA / "contempt" / "x.png"
        Image.new("L", (48, 48), 40).save(path)
        from fewshot_fer.data import create_dataset

        with contextlib.redirect_stderr(io.StringIO()):
            create_dataset("folder", "all", tmp / DATA, 48, 1, cache_dir=tmp / "cache")
        before = path.stat()
        Image.new("L", (48, 48), 200).save(path)
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        return ["data", "check", "--dataset", "folder", "--splits", "all", "--data-root", str(tmp / DATA),
                "--cache-dir", str(tmp / "cache")]

    def fresh(tmp: Path, outcome: Outcome) -> str | None:
        from fewshot_fer.data import create_dataset

        ds = create_dataset("folder", "all", tmp / DATA, 48, 1, cache_dir=tmp / "cache")
        level = float(ds.images[ds.labels == ds.class_names.index("contempt")].float().mean())
        return None if abs(level - 200) < 2 else f"served the old image (grey {level:.0f})"
    return Case("data loss", "an image replaced with the same size and mtime is decoded again", make, check=fresh)
