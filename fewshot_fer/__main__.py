"""``fewshot-fer <command> [flags]`` (or ``python -m fewshot_fer <command>``): one front door to
every command; ``python -m fewshot_fer.<command>`` keeps working and takes the same flags."""

from __future__ import annotations

import importlib
import sys
from typing import Sequence

from . import __version__
from .commands.cli import run_cli

# command -> (module whose main(argv) runs it, one line of what it does)
COMMANDS = {
    "pretrain": ("fewshot_fer.commands.pretrain", "supervised pre-training, scored as nearest centroid (SimpleShot)"),
    "train": ("fewshot_fer.commands.train", "train a few-shot learner on episodes"),
    "evaluate": ("fewshot_fer.commands.evaluate", "score a checkpoint on fixed episodes (mean +- 95% CI, plots)"),
    "predict": ("fewshot_fer.commands.predict", "recognise expressions in your photos and clips from a support folder"),
    "selftrain": ("fewshot_fer.commands.selftrain", "the self-training CNN baseline (MC-dropout pseudo-labels)"),
    "ensemble": ("fewshot_fer.commands.ensemble", "soft voting over trained classifiers"),
    "export": ("fewshot_fer.commands.export", "a model + support faces as one folder for predict --model (open-set 'unknown')"),
    "demo": ("fewshot_fer.commands.demo", "a local page: drop a few faces per expression, then a photo or webcam frame"),
    "data": ("fewshot_fer.commands.data", "check a dataset folder (counts per split and class, problems) or the cache"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [f"usage: fewshot-fer <command> [flags]   (fewshot-fer {__version__}; also python -m fewshot_fer)", "",
             "Few-shot facial expression recognition. Commands (each has --help):"]
    lines += [f"  {name:<{width}}  {what}" for name, (_, what) in COMMANDS.items()]
    lines += ["", "Example: fewshot-fer train --way 3 --shot 5   (the same as python -m fewshot_fer.train --way 3 --shot 5)"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command named by the first argument with the remaining ones."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] == "--version":
        print(f"fewshot-fer {__version__}")
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"{usage()}\n\nerror: unknown command {name!r}; choose one of {', '.join(COMMANDS)}.", file=sys.stderr)
        return 2
    return importlib.import_module(COMMANDS[name][0]).main(rest) or 0


def console() -> None:
    """Entry point of the ``fewshot-fer`` script: user errors print one line and exit 2."""
    run_cli(main)


if __name__ == "__main__":
    console()
