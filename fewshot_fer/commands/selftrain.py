"""``python -m fewshot_fer.selftrain``: the self-training CNN baseline of the FER2013 study.

Round 0 trains a classifier (``vgcnn`` by default, or ``resnet50`` ...) on the labelled faces
(Adam, mini-batches of 64, flips and small rotations). Each later round predicts the unlabeled
faces with MC-dropout (T stochastic passes, soft vote), keeps those whose confidence reaches the
threshold, ranked by confidence, variance or BALD and capped per class, and trains on the
labelled faces (rehearsal: all of them, or a fresh stratified sample each round) plus these
pseudo-labels with a smaller learning rate. The round kept is the best on the validation split.
Optionally a fresh member is trained from scratch on part of the labelled faces plus the kept
round's pseudo-labels, and soft-votes with it (the study's ensemble). The test split is scored
once, at the end: every round, the fresh member and the ensemble, each with dropout off and with
the MC-dropout soft vote of ``--mc-passes`` passes (the study's final predictor).

Unlabeled faces come from ``--unlabeled-root`` (any folder tree of images) and/or from the
training split itself with ``--labelled-fraction`` below 1 (the semi-supervised protocol: the
other faces' labels are hidden).
"""

from __future__ import annotations

import argparse
from typing import Sequence

from ..training.recipes import SelfTrainRecipe
from ..training.selftraining import run
from .cli import parse_recipe, recipe_parser, run_cli

EPILOG = ("Example (semi-supervised FER2013, CPU): python -m fewshot_fer.selftrain --dataset fer2013 --data-root "
          "../shared/data/fer2013 --labelled-fraction 0.1")

RECIPE = SelfTrainRecipe  # the settings this command runs


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``SelfTrainRecipe``."""
    return recipe_parser(SelfTrainRecipe, "python -m fewshot_fer.selftrain", __doc__.split("\n\n")[0], EPILOG)


def main(argv: Sequence[str] | None = None) -> int:
    run(*parse_recipe(SelfTrainRecipe, build_parser(), argv))
    return 0


if __name__ == "__main__":
    run_cli(main)
