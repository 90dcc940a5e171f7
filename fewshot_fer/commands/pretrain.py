"""``python -m fewshot_fer.pretrain``: supervised pre-training for few-shot recognition.

The recipe of RFS ("Rethinking few-shot image classification", Tian et al. 2020), SimpleShot
(Wang et al. 2019) and Meta-Baseline (Chen et al. 2021): train the backbone as an ordinary
classifier over all training classes with mini-batches of faces, then recognise new classes by
the nearest class mean of its features (by default SimpleShot's: centred on the training
classes' mean feature, L2-normalised, Euclidean). Each epoch is selected on fixed few-shot
validation episodes (val split, e.g. unseen expressions), never on the test split.

The run directory is a normal one (``args.yaml``, ``metrics.csv``, TensorBoard, ``last.pt``,
``best.pt``): ``evaluate --checkpoint best.pt`` scores it as it is, and
``train --pretrained best.pt`` starts an episodic learner (e.g. a cosine ProtoNet, Meta-Baseline's
fine-tune) from its backbone.
"""

from __future__ import annotations

import argparse
from typing import Sequence

from ..training.pretraining import run
from ..training.recipes import PretrainRecipe
from .cli import parse_recipe, recipe_parser, run_cli

EPILOG = ("Example (FER2013 unseen expressions, ~10 min on a 2-core CPU): python -m fewshot_fer.pretrain --dataset "
          "fer2013 --data-root ../shared/data/fer2013 --classes anger,happiness,sadness,neutral --val-classes "
          "disgust,fear,surprise")

RECIPE = PretrainRecipe  # the settings this command runs


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``PretrainRecipe``."""
    return recipe_parser(PretrainRecipe, "python -m fewshot_fer.pretrain",
                         __doc__.split("\n\n")[0] + " " + __doc__.split("\n\n")[1], EPILOG)


def main(argv: Sequence[str] | None = None) -> int:
    run(*parse_recipe(PretrainRecipe, build_parser(), argv))
    return 0


if __name__ == "__main__":
    run_cli(main)
