"""SimpleShot centring's mean: the mean embedding of (a fixed subset of) a model's training faces.

``python -m fewshot_fer.pretrain`` stores it in its checkpoints (``centre=true``, its default). A
model trained without it is centred at evaluation with ``--learner-option centre=true``: the mean is
then computed from the training faces its run recorded (dataset, folder and classes of its
``args``), read again, embedded as the model embeds test faces (with its ``flip`` and ``shift``
views). Only training faces are used, so the scores stay inductive.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..data import create_dataset, loader_options
from ..data.catalog import GIVEN
from ..labels import parse_classes
from .embedding import embed_all

MEAN_IMAGES = 5000  # training images whose mean feature centres the embedding (a fixed random subset)


@torch.no_grad()
def set_training_mean(model, images: torch.Tensor, seed: int, device: torch.device | str,
                      config: dict[str, Any]) -> None:
    """Centre ``model`` on the mean embedding of ``MEAN_IMAGES`` of ``images`` ``[N, C, H, W]``
    (a subset drawn with ``seed``; all of them when there are fewer)."""
    subset = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))[:MEAN_IMAGES]
    model.set_feature_mean(embed_all(model, images[subset], torch.device(device), config["mean"],
                                     config["std"]).mean(0))


def centre_on_training_faces(model, checkpoint: dict[str, Any], path: str | Path, device: torch.device | str) -> None:
    """Centre ``model``, loaded from checkpoint ``path``, on the mean embedding of the training
    faces its run recorded; a ``ValueError`` names the checkpoint and the folder when they cannot
    be read."""
    run, config = checkpoint.get("args") or {}, checkpoint["model_config"]
    wrong = [k for k, kinds in (("dataset", str), ("data_root", (str, type(None))), ("classes", (str, type(None))),
                                ("seed", int)) if k in run and not isinstance(run[k], kinds)]
    if wrong:  # a checkpoint is a file from outside: its settings are checked before they are used
        raise ValueError(f"checkpoint {path}: its recorded setting {wrong[0]} is {run[wrong[0]]!r:.60}, not a "
                         f"{'whole number' if wrong[0] == 'seed' else 'text'}.")
    if not run.get("dataset"):
        raise ValueError(f"centre=true needs the mean feature of the training classes; checkpoint {path} holds "
                         f"none and does not record its training data, so it cannot be computed.")
    if str(run["dataset"]).startswith(GIVEN):
        raise ValueError(f"centre=true needs the mean feature of the training classes; checkpoint {path} holds none "
                         f"and was trained on a dataset given from Python ({run['dataset']}), so it cannot be read "
                         f"again: set it with learner.set_feature_mean(...).")
    where = f"{run['dataset']} at {run.get('data_root')}, classes {run.get('classes') or 'all'}"
    try:
        faces = create_dataset(run["dataset"], "train", run.get("data_root"), config["image_size"],
                               config["in_chans"], classes=parse_classes(run.get("classes")),
                               **loader_options(run, run["dataset"]))
    except (OSError, ValueError) as err:
        raise ValueError(f"centre=true computes the training classes' mean feature from the faces checkpoint "
                         f"{path} was trained on ({where}), which could not be read (run from the folder it "
                         f"was trained in, or keep the data where its args name it): {err}") from None
    print(f"centring on the mean feature of {min(len(faces), MEAN_IMAGES)} training faces ({where})")
    set_training_mean(model, faces.images, run.get("seed", 0), device, config)
