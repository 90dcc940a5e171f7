"""``python -m benchmarks.speed_precision``: pre-training steps in float32 against bfloat16, side by side.

The classifier trainer (``fewshot_fer.training.baselines.supervised.train_epoch``, what ``pretrain`` runs)
takes the same mini-batches of the same FER2013 faces with each backbone, once with
``--precision fp32`` and once with ``--precision bf16``; the two alternate, repeat after repeat, in
one process, so that a busy machine slows both alike. Results are ratios of median step times;
the table goes to ``benchmarks/results/speed-precision.md``. bfloat16 pays on CPUs with AMX or
AVX-512 BF16 (the flags are printed); elsewhere it is emulated and slower.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path
from typing import Sequence

import torch

from fewshot_fer.commands.cli import HelpFormatter, add_debug_flag, run_cli
from fewshot_fer.data import create_dataset
from fewshot_fer.training import pretraining
from fewshot_fer.training.baselines.supervised import train_epoch
from fewshot_fer.training.precision import prepare_model
from fewshot_fer.training.recipes import PretrainRecipe

# the pre-training backbones of benchmarks/configs/fer2013.yaml
BACKBONES = {"conv4": {}, "resnet12 (widths 32-256)": {"widths": [32, 64, 128, 256]}}


def cpu_flags() -> str:
    """The CPU's bfloat16 features, from /proc/cpuinfo (Linux), or 'unknown'."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags"))
    except (OSError, StopIteration):
        return "unknown"
    found = [f for f in ("amx_bf16", "avx512_bf16") if f in flags.split()]
    return ", ".join(found) or "none (bfloat16 emulated)"


def step_seconds(backbone: str, options: dict, precision: str, images: torch.Tensor, labels: torch.Tensor,
                 batch_size: int) -> float:
    """Seconds per optimiser step of one pass over ``images`` (after one untimed warm-up batch), with
    the classifier ``pretrain`` builds from its own defaults for ``backbone``."""
    settings = PretrainRecipe.build(("speed job", {
        "backbone": backbone.split()[0], "learner_option": ["neck=flatten"],
        "backbone_option": [f"{k}={v}" for k, v in options.items()]})).settings()
    model, _ = pretraining.build_classifier(settings, 4, torch.device("cpu"), fresh=True)
    model = prepare_model(model, precision)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    device = torch.device("cpu")
    train_epoch(model, images[:batch_size], labels[:batch_size], optimizer, gen, device, batch_size,
                augmentation="face", precision=precision)
    start = time.perf_counter()
    train_epoch(model, images, labels, optimizer, gen, device, batch_size, augmentation="face", precision=precision)
    return (time.perf_counter() - start) / (len(images) // batch_size)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed_precision", formatter_class=HelpFormatter,
                                description=__doc__.split("\n\n")[1])
    p.add_argument("--data-root", default="../shared/data/fer2013", help="FER2013 folder layout")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--batches", type=int, default=20, help="timed mini-batches of 64 faces per measurement")
    p.add_argument("--repeats", type=int, default=5, help="alternating repeats of each pair")
    p.add_argument("--output", default="benchmarks/results/speed-precision.md", help="the markdown table")
    add_debug_flag(p)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = create_dataset("fer2013", "train", args.data_root, image_size=48, channels=1)
    images, labels = data.images[: 64 * args.batches], data.labels[: 64 * args.batches]
    rows = []
    for name, options in BACKBONES.items():
        times = {"fp32": [], "bf16": []}
        for repeat in range(args.repeats):
            for precision in ("fp32", "bf16") if repeat % 2 == 0 else ("bf16", "fp32"):
                times[precision].append(step_seconds(name, options, precision, images, labels, 64))
        ratios = [a / b for a, b in zip(times["fp32"], times["bf16"])]
        fp32, bf16 = statistics.median(times["fp32"]), statistics.median(times["bf16"])
        rows.append(f"| {name} | {1000 * fp32:.0f} | {1000 * bf16:.0f} | **{fp32 / bf16:.2f}x** | "
                    f"{min(ratios):.2f}-{max(ratios):.2f}x |")
        print(rows[-1], flush=True)
    text = "\n".join([
        "# Speed: pre-training steps in float32 and bfloat16 (`pretrain --precision`)", "",
        f"Command: `python -m benchmarks.speed_precision --data-root {args.data_root} --threads {args.threads} "
        f"--batches {args.batches} --repeats {args.repeats}`", "",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, CPU bfloat16 features: "
        f"{cpu_flags()}; torch {torch.__version__}. One step: a mini-batch of 64 FER2013 faces (48x48, "
        f"`face` augmentation, flattened maps into a 4-class head), forward, backward and Adam. Medians of "
        f"{args.repeats} alternating repeats of {args.batches} steps; the last column gives the lowest and "
        f"highest ratio of single repeats.", "",
        "| backbone | fp32 ms/step | bf16 ms/step | speed-up | repeats |", "|---|---|---|---|---|", *rows, ""])
    Path(args.output).write_text(text)
    print(f"table: {args.output}")
    return 0


if __name__ == "__main__":
    run_cli(main)
