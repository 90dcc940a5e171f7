"""Fault families at the toolkit's edges (issue 39): phone photos stored sideways, files that are
not regular files, names and formats, the files the toolkit reads (an exported ``config.json``,
episodes files, YAML, ``fer2013.csv`` rows, cascade XML), numbers that size work, and the cases
where a user's files or a whole output could be lost. Each case runs through the real command line.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from . import fixtures as fx
from .cases import says
from .runner import Case, Outcome, error_sentence

DATA = "data"  # a dataset folder inside a case's work folder: it must never change
ROTATE = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
          5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
          8: Image.Transpose.ROTATE_270}  # stored = upright.transpose(ROTATE[n]) for EXIF orientation n


def tiny() -> str:
    return str(fx.tiny_run() / "best.pt")


def predict(tmp: Path, *inputs: Path | str, support: Path | None = None, extra: tuple[str, ...] = ()) -> list[str]:
    sup = support or fx.support(tmp / "support")
    return ["predict", "--checkpoint", tiny(), "--support", str(sup), "--input", *map(str, inputs),
            "--output", str(tmp / "p.csv"), *extra]


def rows(tmp: Path) -> list[dict]:
    with open(tmp / "p.csv", encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def orientation_cases() -> list[Case]:
    """A face with a bright top half saved in each EXIF orientation: decoded upright everywhere."""
    def upright() -> Image.Image:
        arr = np.full((40, 30), 30, np.uint8)
        arr[:20] = 220  # bright forehead, dark chin: sideways or upside down shows at once
        return Image.fromarray(arr)

    def make(n: int) -> Callable[[Path], list[str]]:
        def run(tmp: Path) -> list[str]:
            fx.folder(tmp / DATA)
            (tmp / DATA / "contempt").mkdir()
            exif = Image.Exif()
            exif[0x0112] = n
            stored = upright() if n == 1 else upright().transpose(ROTATE[n])
            stored.save(tmp / DATA / "contempt" / "phone.png", exif=exif)
            return ["data", "check", "--dataset", "folder", "--splits", "all", "--data-root", str(tmp / DATA),
                    "--cache-dir", str(tmp / "cache")]
        return run

    def upright_decoded(tmp: Path, outcome: Outcome) -> str | None:
        from fewshot_fer.data import create_dataset

        ds = create_dataset("folder", "all", tmp / DATA, 48, 1, cache_dir=tmp / "cache")
        face = ds.images[ds.labels == ds.class_names.index("contempt")][0, 0].float()
        top, bottom = float(face[:20].mean()), float(face[28:].mean())
        return None if top > 180 and bottom < 60 else f"decoded sideways (top {top:.0f}, bottom {bottom:.0f})"
    return [Case("orientation", f"EXIF orientation {n} is read upright", make(n), check=upright_decoded, watch=DATA,
                 slow=n not in (6, 7)) for n in range(1, 9)]


SKIPPED = r"not regular files \(pipes, devices, sockets, broken links\) skipped, first: "


def special_file_cases() -> list[Case]:
    """Named pipes called ``*.jpg`` where images are read: skipped and counted, never opened."""
    if not hasattr(os, "mkfifo"):
        return []

    def in_input(tmp: Path) -> list[str]:
        (tmp / "in").mkdir()
        Image.fromarray(fx.face(90)).save(tmp / "in" / "face.png")
        os.mkfifo(tmp / "in" / "pipe.jpg")
        os.symlink(tmp / "nowhere.png", tmp / "in" / "pipe-link.jpg")  # a link to nothing
        return predict(tmp, tmp / "in")

    def named_input(tmp: Path) -> list[str]:
        os.mkfifo(tmp / "pipe.jpg")
        Image.fromarray(fx.face(90)).save(tmp / "face.png")
        return predict(tmp, tmp / "face.png", tmp / "pipe.jpg")

    def in_support(tmp: Path) -> list[str]:
        sup = fx.support(tmp / "support")
        os.mkfifo(sup / "smirk" / "pipe.jpg")
        Image.fromarray(fx.face(90)).save(tmp / "face.png")
        return predict(tmp, tmp / "face.png", support=sup)

    def in_dataset(tmp: Path) -> list[str]:
        fx.folder(tmp / DATA)
        os.mkfifo(tmp / DATA / "anger" / "pipe.jpg")
        return ["data", "check", "--dataset", "folder", "--splits", "all", "--data-root", str(tmp / DATA),
                "--cache-dir", str(tmp / "cache")]

    def pipe_skipped(tmp: Path, outcome: Outcome) -> str | None:
        got = [r["prediction"] for r in rows(tmp) if "pipe" in Path(r["input"]).name]
        return None if set(got) == {"skipped: not a regular file"} else f"the pipe's rows: {got}"
    return [Case("special files", "a pipe and a broken link in an input folder", in_input, check=pipe_skipped, timeout=60),
            Case("special files", "a pipe named as an input", named_input, check=pipe_skipped, timeout=60, slow=True),
            Case("special files", "a pipe in a support class folder", in_support, timeout=60,
                 check=says(SKIPPED + r"\S+smirk/pipe\.jpg")),
            Case("special files", "a pipe in a dataset folder", in_dataset, watch=DATA, timeout=60,
                 check=says(SKIPPED + r"\S+anger/pipe\.jpg"))]


def name_and_format_cases() -> list[Case]:
    def formats(tmp: Path) -> list[str]:
        (tmp / "in").mkdir()
        Image.fromarray(fx.face(90)).save(tmp / "in" / "a.gif")
        Image.fromarray(fx.face(90)).save(tmp / "in" / "b.webp")
        return predict(tmp, tmp / "in")

    def both_predicted(tmp: Path, outcome: Outcome) -> str | None:
        got = sorted(Path(r["input"]).name for r in rows(tmp) if r["prediction"] in ("smirk", "frown", "wide eyes"))
        return None if got == ["a.gif", "b.webp"] else f"predicted rows: {got}"

    def not_utf8(tmp: Path) -> list[str]:
        (tmp / "in").mkdir()
        Image.fromarray(fx.face(90)).save(os.fsdecode(bytes(tmp / "in") + b"/caf\xe9.png"))
        Image.fromarray(fx.face(90)).save(tmp / "in" / "plain.png")
        return predict(tmp, tmp / "in")

    def escaped(tmp: Path, outcome: Outcome) -> str | None:
        names = sorted(Path(r["input"]).name for r in rows(tmp))
        return None if names == ["caf\\xe9.png", "plain.png"] else f"rows: {names}"

    def formula(tmp: Path) -> list[str]:
        sup = fx.support(tmp / "support", classes=("=1+2", "@cmd", "plain"))
        return predict(tmp, sup / "plain", support=sup)

    def escaped_formula(tmp: Path, outcome: Outcome) -> str | None:
        with open(tmp / "p.csv", newline="") as f:
            cells = [c for r in csv.reader(f) for c in r]
        bad = [c for c in cells if c.startswith(("=", "@", "+"))]
        return f"formula cells: {bad[:3]}" if bad else None

    def folded(tmp: Path) -> list[str]:
        sup = fx.support(tmp / "support", classes=("happy", "Happy ", "sad"))
        return predict(tmp, sup / "sad", support=sup)

    def merged(tmp: Path) -> list[str]:
        for name in ("happy", "joy", "sad"):
            (tmp / DATA / name).mkdir(parents=True)
            for k in range(3):
                Image.fromarray(fx.face(40 * k + 20, seed=len(name))).save(tmp / DATA / name / f"{name}{k}.png")
        return ["data", "check", "--dataset", "folder", "--splits", "all", "--data-root", str(tmp / DATA),
                "--cache-dir", str(tmp / "cache")]
    return [Case("names and formats", "GIF and WebP inputs in a folder", formats, check=both_predicted),
            Case("names and formats", "a file name that is not UTF-8", not_utf8, check=escaped),
            Case("names and formats", "spreadsheet formulas as class names", formula, check=escaped_formula),
            Case("names and formats", "support folders 'happy' and 'Happy '", folded, error="differ only in case"),
            Case("names and formats", "class folders happy and joy are merged with a note", merged, watch=DATA,
                 check=says("class folders read as one expression: 'happy', 'joy' -> happiness"))]


def exported(tmp: Path) -> Path:
    from fewshot_fer.commands import export

    model = tmp / "model"
    with contextlib.redirect_stdout(io.StringIO()):
        export.main(["--checkpoint", tiny(), "--support", str(fx.support(tmp / "support")), "--out", str(model),
                     "--reject-rate", "0"])
    return model


MODEL_EDITS: dict[str, tuple[Callable[[dict], object], str]] = {
    "in_chans a string": (lambda c: c["model"].update(in_chans="1"), "model.in_chans must be 1 or 3"),
    "image_size 10^6": (lambda c: c["model"].update(image_size=10**6), "model.image_size must be a whole number"),
    "std 0": (lambda c: c["model"].update(std=0), "model.std must be a finite number above 0"),
    "negative threshold": (lambda c: c.update(unknown_threshold=-1), "unknown_threshold must be null or"),
    "10^9 transductive steps": (lambda c: c["model"]["learner_kwargs"].update(transductive_steps=10**9),
                                "transductive_steps must be a number of at most"),
    "class names of another support set": (lambda c: c.update(class_names=["a", "b"]),
                                           "class_names must be one name per support label"),
    "class names not strings": (lambda c: c.update(class_names=[1, 2, 3]), "class_names must be a list"),
    "detector outside the folder": (lambda c: c["preprocessing"].update(face_detector="../../evil.xml"),
                                    "face_detector must be one of"),
    "detector an absolute path": (lambda c: c["preprocessing"].update(face_detector="/etc/passwd"),
                                  "face_detector must be one of"),
    "deeply nested": (lambda c: '{"format": ' + "[" * 50000 + "]" * 50000 + "}", "nested too deeply"),
    "not an object": (lambda c: "[1, 2]", "must hold a JSON object"),
    "10 MB": (lambda c: json.dumps({**c, "exported_from": "x" * 10_000_000}), "more than the 1,000,000"),
    "learner not registered": (lambda c: c["model"].update(learner="os.system"), "model.learner must be one of"),
}


def model_schema_cases() -> list[Case]:
    def make(edit: Callable[[dict], object]):
        def run(tmp: Path) -> list[str]:
            model = exported(tmp)
            info = json.loads((model / "config.json").read_text())
            replaced = edit(info)
            text = replaced if isinstance(replaced, str) else json.dumps(info)
            (model / "config.json").write_text(text)
            Image.fromarray(fx.face(90, 40)).save(tmp / "face.png")
            return ["predict", "--model", str(model), "--input", str(tmp / "face.png"), "--output", str(tmp / "p.csv")]
        return run
    fast = ("10^9 transductive steps", "class names of another support set", "detector outside the folder",
            "deeply nested")
    return [Case("model folder schema", name, make(edit), error=error, timeout=60, slow=name not in fast)
            for name, (edit, error) in MODEL_EDITS.items()]


EPISODE_EDITS: dict[str, tuple[Callable[[dict], object], str]] = {
    "n_way a string": (lambda d: d.update(n_way="3"), "key n_way must be a whole number"),
    "10^9 queries": (lambda d: d.update(n_query=10**9), "key n_query must be a whole number from 1 to 1000"),
    "episodes not a list": (lambda d: d.update(episodes={"a": 1}), "key episodes must be a list"),
    "an episode too short": (lambda d: d["episodes"][0].pop(), "episode 0 must be a list of"),
    "an episode of dicts": (lambda d: d["episodes"].__setitem__(1, [{}] * len(d["episodes"][1])), "episode 1 must be"),
    "meta a list": (lambda d: d.update(meta=[1]), "key meta must be an object"),
}


def episodes_cases() -> list[Case]:
    def evaluate(tmp: Path, episodes: int = 3) -> list[str]:
        if not (tmp / DATA).exists():
            fx.fer2013(tmp / DATA)
        return ["evaluate", "--checkpoint", tiny(), "--dataset", "fer2013", "--data-root", str(tmp / DATA),
                "--split", "test", "--shot", "1", "--query", "1", "--episodes", str(episodes),
                "--episodes-file", str(tmp / "episodes.json"), "--cache-dir", str(tmp / "cache"),
                "--keep-duplicates", "--output", str(tmp / "ev")]

    def drawn(tmp: Path) -> None:
        from benchmarks.faults.runner import invoke

        invoke(evaluate(tmp))

    def make(edit: Callable[[dict], object]):
        def run(tmp: Path) -> list[str]:
            drawn(tmp)
            doc = json.loads((tmp / "episodes.json").read_text())
            edit(doc)
            (tmp / "episodes.json").write_text(json.dumps(doc))
            return evaluate(tmp)
        return run

    def other_count(tmp: Path) -> list[str]:
        drawn(tmp)
        return evaluate(tmp, 5)
    return [*(Case("episodes files", name, make(edit), error=error, watch=DATA, slow=name != "10^9 queries")
              for name, (edit, error) in EPISODE_EDITS.items()),
            Case("episodes files", "--episodes 5 on a file of 3", other_count, watch=DATA,
                 error=r"holds 3 episodes, not the 5 asked for \(--episodes\)")]


def yaml_cases() -> list[Case]:
    bomb = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{n}: &{n} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n" for p, n in zip("abcdefgh", "bcdefghi"))

    def config(text: str):
        def run(tmp: Path) -> list[str]:
            (tmp / "c.yaml").write_text(text.replace("MARKER", str(tmp / fx.MARKER)))
            return ["train", "--config", str(tmp / "c.yaml"), "--output", str(tmp / "runs")]
        return run

    def resumed(text: str):
        def run(tmp: Path) -> list[str]:
            from fewshot_fer.commands import train

            with contextlib.redirect_stdout(io.StringIO()):
                train.main([*fx.TINY_TRAIN, "--epochs", "1", "--output", str(tmp), "--name", "r"])
            (tmp / "r" / "args.yaml").write_text(text.replace("MARKER", str(tmp / fx.MARKER)))
            return ["train", "--resume", str(tmp / "r"), "--epochs", "2"]
        return run

    def short(tmp: Path, outcome: Outcome) -> str | None:
        sentence = error_sentence(outcome.stderr) or ""
        return None if len(sentence) < 400 else f"the error sentence is {len(sentence):,} characters long"
    cases = []
    for where, make in (("--config", config), ("--resume args.yaml", resumed)):
        for name, text, error in (("an alias bomb", bomb, "alias"),
                                  ("a python tag", "seed: !!python/object/apply:os.system ['touch MARKER']\n",
                                   "not valid YAML"),
                                  ("malformed", "seed: [1\n", r"not valid YAML \(line 2")):
            cases.append(Case("yaml", f"{name} in {where}", make(text), error=error, marker=fx.MARKER, check=short,
                              slow=where != "--config" and name != "an alias bomb"))
    return cases


def csv_row_cases() -> list[Case]:
    good = " ".join(["128"] * 2304)

    def make(row: str):
        def run(tmp: Path) -> list[str]:
            (tmp / DATA).mkdir()
            lines = ["emotion,pixels,Usage", *[f"{k % 7},{good},PrivateTest" for k in range(20)], row]
            (tmp / DATA / "fer2013.csv").write_text("\n".join(lines) + "\n")
            return ["data", "check", "--dataset", "fer2013", "--splits", "test", "--data-root", str(tmp / DATA),
                    "--cache-dir", str(tmp / "cache")]
        return run
    # data check reports an unusable split on its own line, exit status 1
    return [Case("csv rows", name, make(row), codes=(1,), check=says(r"\[test\] unusable: \S+fer2013\.csv " + error),
                 watch=DATA, slow=name not in ("a short row", "pixel 300")) for name, row, error in (
        ("a short row", "3,PrivateTest", r"line 22 has 2 columns, expected 3"),
        ("emotion 9", f"9,{good},PrivateTest", r"line 22: emotion must be one of \[0, 1, 2, 3, 4, 5, 6\], got '9'"),
        ("pixel 300", f"3,{good[:-3]}300,PrivateTest", r"line 22: pixels must be grey values from 0 to 255, got 300"),
        ("a pixel that is text", f"3,{good[:-3]}abc,PrivateTest", r"line 22: pixels must be 2304 whole numbers"),
        ("too few pixels", "3,1 2 3,PrivateTest", r"line 22: pixels must be 2304 whole numbers \(48x48\), got 3"))]


def cascade_cases() -> list[Case]:
    def make(text: str):
        def run(tmp: Path) -> list[str]:
            (tmp / "cascade.xml").write_text(text)
            Image.fromarray(fx.face(90)).save(tmp / "face.png")
            return predict(tmp, tmp / "face.png", extra=("--detect-faces", "--face-detector", str(tmp / "cascade.xml")))
        return run
    return [Case("cascade XML", name, make(text), error="is not a valid OpenCV cascade XML file", slow=name != "plain text")
            for name, text in (("plain text", "not xml at all"), ("XML of something else", "<?xml version='1.0'?><a/>"),
                               ("empty", ""))]
