"""The catalogue of bad inputs: each a ``Case`` run through the real command line.

Groups: image files broken every way and stored in every mode, dataset layouts, checkpoints
(broken and malicious) through every entry point, config files, output folders (read-only, full,
a file in the way), the decoded-image cache damaged every way, and bad flag values.
"""

from __future__ import annotations

import contextlib
import errno
import io
import re
import shutil
from pathlib import Path

import numpy as np

from . import fixtures as fx
from .runner import Case, Outcome

DATA = "fer"  # the dataset folder inside a case's work folder; it must never change
FSYNC = "episodes.atomic.os.fsync"  # every atomic write calls it before the rename
TORCH_SAVE = "fewshot_fer.weights.torch.save"  # writes a checkpoint's bytes
CHECK = ["data", "check", "--dataset", "fer2013", "--splits", "train,test"]


def data_check(tmp: Path) -> list[str]:
    return [*CHECK, "--data-root", str(tmp / DATA), "--cache-dir", str(tmp / "cache")]


def says(*needles: str):
    """A check: the output says every ``needle`` (a regular expression)."""
    def check(tmp: Path, outcome: Outcome) -> str | None:
        text = outcome.stdout + outcome.stderr
        missing = [n for n in needles if not re.search(n, text)]
        return f"output does not say {missing}" if missing else None
    return check


def folder_check(tmp: Path) -> list[str]:
    return ["data", "check", "--dataset", "folder", "--splits", "all", "--data-root", str(tmp / DATA),
            "--cache-dir", str(tmp / "cache")]


def image_cases() -> list[Case]:
    cases = []
    for kind in ("zero-bytes", "text", "truncated-png", "truncated-jpeg", "random-bytes", "html"):
        def skipped(tmp: Path, kind: str = kind) -> list[str]:
            fx.fer2013(tmp / DATA)
            shutil.copy(fx.image_faults(tmp / "bad")[kind], tmp / DATA / "train" / "happy" / "Training_9.png")
            return data_check(tmp)

        def strict(tmp: Path, kind: str = kind) -> list[str]:
            fx.fer2013(tmp / DATA)
            shutil.copy(fx.image_faults(tmp / "bad")[kind], tmp / DATA / "test" / "happy" / "PrivateTest_9.png")
            return ["evaluate", "--checkpoint", str(fx.tiny_run() / "best.pt"), "--dataset", "fer2013", "--data-root",
                    str(tmp / DATA), "--split", "test", "--strict", "--shots", "1", "--query", "1", "--episodes", "3",
                    "--cache-dir", str(tmp / "cache"), "--output", str(tmp / "ev")]
        cases.append(Case("images", f"{kind} image is skipped and counted", skipped, watch=DATA,
                          check=says(r"\[train\] 21 images", r"skipped 1 unreadable image.*Training_9\.png")))
        cases.append(Case("images", f"{kind} image stops evaluate --strict", strict,
                          error=r"PrivateTest_9\.png could not be decoded.*drop --strict", watch=DATA))
    for mode in fx.IMAGE_MODES:
        def make(tmp: Path, mode: str = mode) -> list[str]:
            fx.folder(tmp / DATA)
            image = fx.image_modes(tmp / "modes")[mode]
            (tmp / DATA / "contempt").mkdir()  # the probe class
            shutil.copy(image, tmp / DATA / "contempt" / f"x{image.suffix}")
            return folder_check(tmp)

        def decoded_right(tmp: Path, outcome: Outcome) -> str | None:
            from fewshot_fer.data import create_dataset

            ds = create_dataset("folder", "all", tmp / DATA, 48, 1, cache_dir=tmp / "cache")
            probe = ds.labels == ds.class_names.index("contempt")
            mean = float(ds.images[probe].float().mean()) if probe.any() else -1
            return None if abs(mean - 140) <= 3 else f"decoded grey level {mean:.1f}, stored 140"
        cases.append(Case("images", f"{mode} image decodes to its grey level", make, check=decoded_right, watch=DATA))
    return cases


def layout_cases() -> list[Case]:
    def root_is(tmp: Path, make) -> list[str]:
        make(tmp)
        return [*CHECK, "--data-root", str(tmp / "root"), "--cache-dir", str(tmp / "cache")]
    unusable = dict(codes=(1,))  # data check reports an unusable split and exits 1
    return [
        Case("layout", "data root missing", lambda t: root_is(t, lambda t: None),
             check=says(r"unusable: FER2013 folder .*root does not exist"), **unusable),
        Case("layout", "data root is a file", lambda t: root_is(t, lambda t: (t / "root").write_text("x")),
             check=says(r"unusable: .*root"), **unusable),
        Case("layout", "no split folders", lambda t: root_is(t, lambda t: (t / "root" / "x").mkdir(parents=True)),
             check=says(r"unusable: .*split 'train' not found"), **unusable),
        Case("layout", "only zip archives", lambda t: root_is(t, lambda t: (
            (t / "root").mkdir(), (t / "root" / "fer2013.zip").write_bytes(b"PK"))), check=says("unpack them first"),
            **unusable),
        Case("layout", "an empty class folder is reported", lambda t: (
            fx.folder(t / DATA), (t / DATA / "fear").mkdir(), folder_check(t))[-1],
            check=says(r"1 class folder\(s\) hold no images"), watch=DATA),
        Case("layout", "unknown dataset name", lambda t: ["data", "check", "--dataset", "fer2014"],
             error=r"unknown dataset 'fer2014'; choose one of: afew, ckplus, fer2013"),
        Case("layout", "unknown split", lambda t: (fx.fer2013(t / DATA), [*data_check(t), "--splits", "trian"])[-1],
             check=says("unusable: .*trian"), watch=DATA, **unusable),
        Case("layout", "stray files are skipped with a count", lambda t: (
            fx.fer2013(t / DATA), shutil.copy(next((t / DATA / "train" / "happy").iterdir()),
                                        t / DATA / "train" / "happy" / "Training_5.jpg0.jpg"), data_check(t))[-1],
            check=says(r"\[train\] 21 images", r"skipped 1 file"), watch=DATA),
        Case("layout", "subject pattern that misses a file", lambda t: (
            fx.folder(t / DATA), [*folder_check(t), "--subject-regex", "^X(\\d+)"])[-1],
            check=says(r"unusable: subject pattern .* does not match file name"), watch=DATA, **unusable),
    ]


# entry points that read a checkpoint, as (name, command line with CKPT in place of the file)
def checkpoint_entry_points(tmp: Path) -> dict[str, list[str]]:
    sup = fx.support(tmp / "support")
    return {"evaluate": ["evaluate", "--checkpoint", "CKPT", "--episodes", "3", "--output", str(tmp / "eval")],
            "predict": ["predict", "--checkpoint", "CKPT", "--support", str(sup), "--input", str(sup / "smirk"),
                        "--output", str(tmp / "p.csv")],
            "train --pretrained": ["train", *fx.TINY_TRAIN, "--epochs", "1", "--pretrained", "CKPT",
                                   "--output", str(tmp / "runs")],
            "train --resume": ["train", "--resume", "CKPT", "--epochs", "3"],
            "ensemble": ["ensemble", "--checkpoints", "CKPT", "--dataset", "synthetic-basic",
                         "--output", str(tmp / "e.json")]}


def through(tmp: Path, entry: str, path: Path) -> list[str]:
    """The command line of ``entry`` reading ``path``; ``train --resume`` reads it as the
    ``last.pt`` of a copy of a real run directory (``ckpt/resume``)."""
    if entry == "train --resume":
        run = tmp / "ckpt" / "resume"
        shutil.copytree(fx.tiny_run(), run)
        (run / "last.pt").unlink()
        if path.exists():
            shutil.move(str(path), str(run / "last.pt"))
        path = run
    return [str(path) if a == "CKPT" else a for a in checkpoint_entry_points(tmp)[entry]]


def checkpoint_cases(fast: bool) -> list[Case]:
    cases = []
    entries = ("evaluate", "predict", "train --pretrained", "train --resume", "ensemble")
    for entry in entries:
        for kind in ("torch-zip", "plain-pickle", "legacy-torch", "evil-entry"):
            def make(tmp: Path, entry: str = entry, kind: str = kind) -> list[str]:
                return through(tmp, entry, fx.malicious_checkpoints(tmp / "ckpt")[kind])
            # the evil entry sits beside a real checkpoint's own data and is never unpickled
            ok = kind == "evil-entry"
            cases.append(Case("checkpoints", f"{kind} payload through {entry}", make, marker=f"ckpt/{fx.MARKER}",
                              error=None if ok else r"could not be read|not a fewshot-fer checkpoint|weights", either=ok,
                              slow=fast and entry not in ("evaluate",)))
        for kind in ("empty", "text", "truncated", "state-dict", "folder", "missing", "junk-safetensors", "tensor"):
            def make(tmp: Path, entry: str = entry, kind: str = kind) -> list[str]:
                return through(tmp, entry, fx.broken_checkpoints(tmp / "ckpt")[kind])
            cases.append(Case("checkpoints", f"{kind} file through {entry}", make,
                              error=r"(ckpt/|ckpt\\)", slow=fast and entry not in ("evaluate", "train --pretrained")))
    return cases


def model_folder_cases() -> list[Case]:
    """Exported model folders (``fewshot-fer export``) broken every way, read by ``predict --model``."""
    def broken(how: str):
        def make(tmp: Path) -> list[str]:
            import json
            import pickle

            from fewshot_fer.commands import export

            sup = fx.support(tmp / "support")
            model = tmp / "ckpt" / "model"
            with contextlib.redirect_stdout(io.StringIO()):
                export.main(["--checkpoint", str(fx.tiny_run() / "best.pt"), "--support", str(sup),
                             "--out", str(model), "--reject-rate", "0"])
            if how == "missing support file":
                (model / "support.safetensors").unlink()
            elif how == "pickle payload as weights":
                (model / "weights.safetensors").write_bytes(pickle.dumps(fx.Payload(tmp / "ckpt" / fx.MARKER)))
            elif how == "config.json not JSON":
                (model / "config.json").write_text("{model: ")
            elif how == "config of another backbone":
                info = json.loads((model / "config.json").read_text())
                info["model"]["backbone"] = "resnet12"
                (model / "config.json").write_text(json.dumps(info))
            return ["predict", "--model", str(model), "--input", str(sup), "--output", str(tmp / "p.csv")]
        return make
    return [Case("checkpoints", f"exported model folder: {how}", broken(how), error=r"--model .*ckpt/model",
                 marker=f"ckpt/{fx.MARKER}") for how in
            ("missing support file", "pickle payload as weights", "config.json not JSON", "config of another backbone")]


def config_cases() -> list[Case]:
    def with_config(text: str):
        def make(tmp: Path) -> list[str]:
            (tmp / "c.yaml").write_text(text.replace("MARKER", str(tmp / fx.MARKER)))
            return ["train", "--config", str(tmp / "c.yaml"), "--output", str(tmp / "runs")]
        return make
    return [Case("config", name, with_config(text), error=error, marker=fx.MARKER) for name, text, error in (
        ("malformed YAML", "epochs: [1\n", r"not valid YAML \(line 2"),
        ("python tag", "epochs: !!python/object/apply:os.system ['touch MARKER']\n", "not valid YAML"),
        ("unknown key", "epochz: 3\n", "unknown key 'epochz'"),
        ("list for a number", "epochs: [1, 2]\n", "takes one value"),
        ("text for a number", "epochs: three\n", "must be a whole number"),
        ("text for a switch", "augment: maybe\n", "must be true or false"),
        ("a list, not a mapping", "- epochs\n- 3\n", "must hold a mapping"),
        ("bad choice", "channels: 2\n", r"must be one of 1, 3"),
    )] + [Case("config", "config file missing", lambda t: ["train", "--config", str(t / "none.yaml")],
               error="does not exist")]


def output_cases() -> list[Case]:
    sysfs = Path("/sys/fewshot-fer-faults")  # read-only even for root

    def predict_to(target) -> callable:
        def make(tmp: Path) -> list[str]:
            sup = fx.support(tmp / "support")
            return ["predict", "--checkpoint", str(fx.tiny_run() / "best.pt"), "--support", str(sup),
                    "--input", str(sup / "smirk"), "--output", str(target(tmp))]
        return make

    def blocked(tmp: Path) -> Path:
        (tmp / "file").write_text("a file where a folder should be")
        return tmp / "file" / "out.csv"

    cases = [Case("outputs", "predict --output in a read-only folder", predict_to(lambda t: sysfs / "p.csv"),
                  error=r"--output .* cannot be written"),
             Case("outputs", "predict --output is a folder", predict_to(lambda t: t),
                  error="is a folder; give a file name"),
             Case("outputs", "predict --output under a file", predict_to(blocked), error="cannot be written"),
             Case("outputs", "train --output under a file", lambda t: (
                 (t / "file").write_text("x"), ["train", *fx.TINY_TRAIN, "--output", str(t / "file" / "runs")])[-1],
                 error=r"cannot use .*file"),
             Case("outputs", "train --output read-only", lambda t: ["train", *fx.TINY_TRAIN, "--output", str(sysfs)],
                  error=r"cannot use .*fewshot-fer-faults"),
             Case("outputs", "evaluate --output under a file", lambda t: (
                 (t / "file").write_text("x"), ["evaluate", "--checkpoint", str(fx.tiny_run() / "best.pt"),
                                                "--episodes", "3", "--output", str(t / "file" / "ev")])[-1],
                 error=r"cannot use .*file")]
    return cases


def full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def disk_full_cases() -> list[Case]:
    """Cases that run with every atomic write failing as on a full disk (``ENOSPC``)."""

    def resume_full(tmp: Path) -> list[str]:
        run = tmp / "runs" / "r"
        shutil.copytree(fx.tiny_run(), run)
        (tmp / "before").write_bytes((run / "last.pt").read_bytes())
        return ["train", "--resume", str(run), "--epochs", "3"]

    def intact(tmp: Path, outcome: Outcome) -> str | None:
        return None if (tmp / "runs" / "r" / "last.pt").read_bytes() == (tmp / "before").read_bytes() else \
            "last.pt changed although the disk was full"
    sup_case = Case("outputs", "predict on a full disk", lambda t: (
        fx.support(t / "s"), ["predict", "--checkpoint", str(fx.tiny_run() / "best.pt"), "--support", str(t / "s"),
                              "--input", str(t / "s" / "smirk"), "--output", str(t / "p.csv")])[-1],
        error="no space left on device", patch=(FSYNC, full_disk))
    # the disk fills up when the epoch's checkpoint is written, after an epoch of training
    resume_case = Case("outputs", "disk full at the checkpoint keeps last.pt", resume_full,
                       error=r"(best|last)\.pt: no space left on device", check=intact, patch=(TORCH_SAVE, full_disk))
    return [sup_case, resume_case]


def cache_cases() -> list[Case]:
    def damaged(how: str):
        def make(tmp: Path) -> list[str]:
            from fewshot_fer.data import create_dataset

            fx.fer2013(tmp / DATA)
            create_dataset("fer2013", "train", tmp / DATA, 48, 1, cache_dir=tmp / "cache")  # fill it
            npy = next((tmp / "cache").rglob("*.npy"))
            meta = npy.with_suffix(".json")
            if how == "truncated array":
                npy.write_bytes(npy.read_bytes()[:60])
            elif how == "empty array":
                npy.write_bytes(b"")
            elif how == "garbage metadata":
                meta.write_text("{not json")
            elif how == "another entry's array":
                np.save(npy, np.zeros((3, 1, 48, 48), np.uint8))
            elif how == "flipped bytes":
                data = bytearray(npy.read_bytes())
                data[-100:] = bytes(255 - b for b in data[-100:])
                npy.write_bytes(bytes(data))
            return data_check(tmp)
        return make
    cases = [Case("cache", f"{how} is rebuilt", damaged(how), watch=DATA,
                  check=says(r"\[train\] 21 images", r"\[test\] 21 images")) for how in
             ("truncated array", "empty array", "garbage metadata", "another entry's array", "flipped bytes")]
    cases.append(Case("cache", "cache folder is a file", lambda t: (
        fx.fer2013(t / DATA), (t / "cache").write_text("x"), data_check(t))[-1], watch=DATA,
        check=says(r"\[train\] 21 images", "decoding in memory")))
    cases.append(Case("cache", "cache folder read-only", lambda t: (
        fx.fer2013(t / DATA), [*CHECK, "--data-root", str(t / DATA), "--cache-dir", "/sys/fewshot-fer-cache"])[-1],
        watch=DATA, check=says(r"\[train\] 21 images", "decoding in memory")))
    cases.append(Case("cache", "cache folder on a full disk", lambda t: (fx.fer2013(t / DATA), data_check(t))[-1],
                      watch=DATA, check=says(r"\[train\] 21 images", "(?i)no space left on device.*decoding in memory"),
                      patch=(FSYNC, full_disk)))
    return cases


def flag_cases() -> list[Case]:
    run = ["train", *fx.TINY_TRAIN]
    ev = lambda: ["evaluate", "--checkpoint", str(fx.tiny_run() / "best.pt"), "--episodes", "3"]  # noqa: E731
    table = [
        (run + ["--device", "tpu"], "--device 'tpu' is not a device"),
        (run + ["--lr", "nan"], r"\(--lr\) must be a positive, finite number"),
        (run + ["--lr", "-1"], r"\(--lr\) must be a positive"),
        (run + ["--way", "0"], "way"),
        (run + ["--way", "100"], r"way|classes"),
        (run + ["--shot", "0"], "shot"),
        (run + ["--query", "-2"], "query"),
        (run + ["--image-size", "0"], "image-size|image size"),
        (run + ["--epochs", "0"], "epochs"),
        (run + ["--learner", "nope"], "nope"),
        (run + ["--backbone", "nope"], "nope"),
        (run + ["--learner-option", "tau=1"], "tau"),
        (run + ["--learner", "maml", "--learner-option", "inner_steps=abc"], "inner_steps='abc' must be a whole number"),
        (run + ["--dataset", "fer2013"], "--data-root is required"),
        (run + ["--lr-schedule", "step:0:0.5"], "step"),
        (run + ["--val-way", "50"], r"way|classes"),
    ]
    cases = [Case("flags", " ".join(argv[len(run):]) or "?", lambda t, a=argv: [*a, "--output", str(t / "runs")],
                  error=error) for argv, error in table]
    for extra, error in ((["--shots", "1,x"], "--shots"), (["--way", "0"], "way"), (["--way", "99"], r"way|classes"),
                         (["--episodes", "0"], "episodes"), (["--split", "nope"], "nope"),
                         (["--query", "0"], "query"), (["--device", "cuda:7"], "cuda")):
        cases.append(Case("flags", "evaluate " + " ".join(extra), lambda t, e=extra: [*ev(), *e, "--output",
                                                                                      str(t / "ev")], error=error))
    return cases
