"""``python -m benchmarks.predict_load``: ``fewshot-fer predict`` on many faces, batched against
one face at a time, side by side in one run.

Each measurement is a fresh ``python -m fewshot_fer.predict`` process on a folder of N real faces
(FER2013 training faces from ``../shared/data``, written as files into a temporary folder;
random ones when the shared data is absent), timed from start to end (imports, model, support set
and the CSV included) with its peak resident memory (``ru_maxrss``). ``batched`` is the command
as shipped (faces read ``PREDICT_BATCH`` at a time, embedded ``EMBED_BATCH`` per forward pass); ``one at a time`` reads and embeds each face alone, the way
predict worked before. Memory is measured at several N to show it stays flat.
The table goes to ``benchmarks/results/predict-load.md``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from fewshot_fer.commands.cli import HelpFormatter, add_debug_flag, run_cli
from fewshot_fer.training.rundir import git_commit

# name -> (backbone, backbone options): resnet12-small is the widths of benchmarks/configs/fer2013.yaml's ResNet-12
BACKBONES = {"conv4": ("conv4", []), "resnet12-small": ("resnet12", ["widths=[32,64,128,256]"]),
             "resnet12": ("resnet12", [])}
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "fer2013" / "train"
# predict in a fresh process with the batch size set, writing its own peak memory (kB) at the end
RUNNER = ("import resource, sys, fewshot_fer.predict as p; p.PREDICT_BATCH = int(sys.argv[1]); code = p.main(sys.argv[3:]); "
          "open(sys.argv[2], 'w').write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)); sys.exit(code)")


def write_faces(folder: Path, count: int) -> str:
    """``count`` face files in ``folder``: FER2013 training faces (re-encoded as PNG) or random ones."""
    folder.mkdir(parents=True)
    sources = sorted(SHARED.rglob("*.jpg"))[:count] if SHARED.is_dir() else []
    if len(sources) == count:
        for k, path in enumerate(sources):
            Image.open(path).save(folder / f"{k:05d}.png")
        return f"{count} FER2013 training faces (48 px grey)"
    rng = np.random.default_rng(0)
    for k in range(count):
        Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(folder / f"{k:05d}.png")
    return f"{count} random 48 px faces (../shared/data absent)"


def measure(batch: int, checkpoint: Path, support: Path, inputs: Path, out: Path) -> tuple[float, float, float]:
    """Seconds of one predict process, its own faces/s once model and support are ready, and its
    peak memory (MB)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", RUNNER, str(batch), str(out) + ".rss", "--checkpoint", str(checkpoint), "--support",
                    str(support), "--input", str(inputs), "--output", str(out), "--device", "cpu"],
                   check=True, stdout=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": os.environ.get(
                       "OMP_NUM_THREADS", str(os.cpu_count() or 1))})
    seconds = time.perf_counter() - start
    rate = float(re.search(r"\((\d+) faces/s\)", done.stdout).group(1))  # predict's own summary line
    return seconds, rate, int(Path(str(out) + ".rss").read_text()) / 1024  # Linux reports kilobytes


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.predict_load", formatter_class=HelpFormatter,
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--faces", type=int, default=2000, help="faces predicted in the main comparison")
    p.add_argument("--memory-at", default="250,1000", help="other numbers of faces (batched) at which peak memory "
                                                            "is measured")
    p.add_argument("--backbones", default=",".join(BACKBONES),
                   help=f"ProtoNets with these backbones ({', '.join(BACKBONES)}) are trained one short epoch on "
                        f"synthetic faces and predict (speed does not depend on what they learned)")
    p.add_argument("--output", default="benchmarks/results/predict-load.md", help="markdown table to write")
    add_debug_flag(p)
    args = p.parse_args(argv)
    sizes = sorted({int(n) for n in args.memory_at.split(",") if n} | {args.faces})
    work = Path(tempfile.mkdtemp(prefix="fewshot-fer-predict-load-"))
    rows = []
    try:
        support = work / "support"
        for c, name in enumerate(("a", "b", "c")):
            (support / name).mkdir(parents=True)
            for k in range(5):
                Image.fromarray(np.full((48, 48), 40 + 80 * c + k, np.uint8)).save(support / name / f"{k}.png")
        what = {n: write_faces(work / f"in{n}", n) for n in sizes}
        for backbone in args.backbones.split(","):
            checkpoint = train_default(work, backbone)
            for n in sizes:
                for label, batch in (("batched", 256), ("one at a time", 1)):
                    if label == "one at a time" and n != args.faces:
                        continue
                    seconds, rate, peak = measure(batch, checkpoint, support, work / f"in{n}", work / "p.csv")
                    rows.append((backbone, n, label, seconds, n / seconds, rate, peak))
                    print(f"{backbone}, {n} faces, {label}: {seconds:.1f} s, {n / seconds:.0f} faces/s end to end, "
                          f"{rate:.0f} while predicting, peak {peak:.0f} MB", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    command = " ".join(["python -m benchmarks.predict_load", *(sys.argv[1:] if argv is None else argv)])
    lines = ["# predict on many faces: batched against one face at a time", "",
             f"Command: `{command}` (commit {git_commit()[:12]}, {os.cpu_count()} CPU cores, "
             f"{what[args.faces]}).", "",
             "Each row is one `python -m fewshot_fer.predict` process, timed from start to end (imports, model, "
             "support set, reading the faces, the CSV: *end to end*), with the rate predict itself prints once the "
             "model and support set are ready (*while predicting*: reading, cropping and embedding the inputs) and "
             "its peak resident memory. The model is a ProtoNet with the named backbone at 48 px, grey.", "",
             "| backbone | faces | embedding | seconds | faces/s end to end | faces/s while predicting | "
             "peak memory (MB) |", "|---|---:|---|---:|---:|---:|---:|"]
    lines += [f"| {b} | {n} | {label} | {s:.1f} | {whole:.0f} | {rate:.0f} | {peak:.0f} |"
              for b, n, label, s, whole, rate, peak in rows]
    lines.append("")
    for backbone in args.backbones.split(","):
        timed = {label: s for b, n, label, s, *_ in rows if b == backbone and n == args.faces}
        lines.append(f"- {backbone}: batched is {timed['one at a time'] / timed['batched']:.2f}x as fast as one face "
                     f"at a time on {args.faces} faces (same run, same files).")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text("\n".join(lines) + "\n")
    print(f"table written to {args.output}")
    return 0


def train_default(work: Path, name: str) -> Path:
    from fewshot_fer.commands import train

    backbone, options = BACKBONES[name]
    train.main(["--backbone", backbone, *[t for o in options for t in ("--backbone-option", o)], "--epochs", "1", "--episodes-per-epoch", "5", "--val-episodes", "5",
                "--output", str(work), "--name", name])
    return work / name / "best.pt"


if __name__ == "__main__":
    run_cli(main)
