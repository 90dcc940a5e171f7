"""fewshot-fer: few-shot facial expression recognition.

The pieces are importable from here (loaded on first use, so ``import fewshot_fer`` stays light):
``create_dataset``, ``create_backbone``, ``create_learner``, ``load_trained`` (a checkpoint) and
``load_exported`` (a folder made by ``fewshot-fer export``), and ``load_pretrained`` (the model
shipped in the package, to fit to your own faces and photos). Training and evaluation as functions
that return results: ``fewshot_fer.api.train`` and ``fewshot_fer.api.evaluate`` (``fewshot_fer.train``
and ``fewshot_fer.evaluate`` are the command modules), with typed recipes ``EpisodicRecipe``,
``PretrainRecipe`` and ``SelfTrainRecipe`` (``fewshot_fer.training.recipes``).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {"create_dataset": "fewshot_fer.data", "create_backbone": "fewshot_fer.backbones",
         "create_learner": "fewshot_fer.learners", "load_trained": "fewshot_fer.models.build",
         "load_exported": "fewshot_fer.models.exported",
         "load_pretrained": "fewshot_fer.api", "to_model_input": "fewshot_fer.data.transforms",
         "EpisodicRecipe": "fewshot_fer.training.recipes", "PretrainRecipe": "fewshot_fer.training.recipes",
         "SelfTrainRecipe": "fewshot_fer.training.recipes"}
__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fewshot_fer' has no attribute {name!r}")
