"""Typed recipes: the settings of every training command, as dataclasses checked where they are
built. ``EpisodicRecipe`` (``train``), ``PretrainRecipe`` (``pretrain``), ``SelfTrainRecipe``
(``selftrain``); ``RECIPES`` maps a command to its recipe."""

from .base import RECORDED_KEYS, Recipe, Settings
from .episodic import EpisodicRecipe
from .fields import setting
from .pretraining import PretrainRecipe
from .selftraining import SelfTrainRecipe

RECIPES: dict[str, type[Recipe]] = {r.command: r for r in (EpisodicRecipe, PretrainRecipe, SelfTrainRecipe)}


def recorded_settings(checkpoint: dict, path: object) -> dict:
    """A checkpoint's recorded run settings (``args``), checked against the recipe of the command
    that wrote it (keys of older versions skipped): a value of the wrong type or out of its range
    is one sentence naming the checkpoint, not a failure later on."""
    from ..checkpoint import made_by

    args = checkpoint.get("args") or {}
    if not isinstance(args, dict):
        raise ValueError(f"checkpoint {path}: its recorded settings must be a mapping, got {type(args).__name__}.")
    recipe = RECIPES.get(made_by(checkpoint)) if "progress" in checkpoint or "command" in checkpoint else None
    if recipe is not None:
        recipe.build((f"checkpoint {path}: its recorded settings", args), lenient=True)
    return args

__all__ = ["EpisodicRecipe", "PretrainRecipe", "RECIPES", "RECORDED_KEYS", "Recipe", "SelfTrainRecipe", "Settings",
           "recorded_settings", "setting"]
