"""``python -m fewshot_fer.train``: episodic training of a few-shot expression learner.

By default it trains a prototypical network with a Conv-4 backbone on the built-in synthetic
faces (basic expressions, training identities) and selects it on unseen compound expressions of
unseen identities, in a few minutes on a CPU.
"""

from __future__ import annotations

import argparse
from typing import Sequence

from ..training.episodic import run
from ..training.recipes import EpisodicRecipe
from .cli import parse_recipe, recipe_parser, run_cli

DESCRIPTION = ("Train a few-shot facial expression learner on episodes. Every flag can also be set in a YAML "
               "file given with --config (keys are the flag names).")
EPILOG = ("Example: python -m fewshot_fer.train --way 3 --shot 5 (synthetic faces, ~3 min on a CPU). On several "
          "processes: torchrun --standalone --nproc_per_node 2 -m fewshot_fer.train ... (gloo on CPUs, NCCL on GPUs; "
          "docs/distributed.md for several machines)")

RECIPE = EpisodicRecipe  # the settings this command runs


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``EpisodicRecipe``."""
    return recipe_parser(EpisodicRecipe, "python -m fewshot_fer.train", DESCRIPTION, EPILOG)


def main(argv: Sequence[str] | None = None) -> int:
    run(*parse_recipe(EpisodicRecipe, build_parser(), argv))
    return 0


if __name__ == "__main__":
    run_cli(main)
