"""A trained few-shot model you can hand to someone: one folder, no pickles, no training code.

``fewshot-fer export`` writes, and ``predict --model DIR`` reads:

- ``weights.safetensors``: the learner's weights and buffers;
- ``support.safetensors``: the support faces (uint8 ``[N, C, S, S]``), their labels ``[N]`` and
  the class prototypes, the mean backbone embedding of each class ``[n_classes, D]``;
- ``config.json``: how to rebuild and feed the model (learner, backbone, options, image size,
  channels, normalisation), how faces were cropped (``preprocessing``), the class names, and the
  open-set threshold when calibrated.

Open-set rejection: a face whose embedding is farther from every prototype than ``threshold``
(Euclidean, in the backbone's embedding space) is reported as ``unknown``. ``calibrate_threshold``
sets it so that a chosen share of faces of known classes (validation episodes) would be rejected.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .learners import FewShotLearner
from .model import build_model
from .weights import CONFIG_KEYS, state_mismatch

FORMAT = "fewshot-fer-exported-model/1"
FILES = ("config.json", "weights.safetensors", "support.safetensors")


def class_prototypes(embeddings: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Mean embedding of each class: ``[N, D]``, labels ``[N]`` in 0..n_classes-1 -> ``[n_classes, D]``."""
    sums = torch.zeros(n_classes, embeddings.shape[1], dtype=embeddings.dtype).index_add_(0, labels, embeddings)
    counts = torch.bincount(labels, minlength=n_classes).clamp(min=1).unsqueeze(1)
    return sums / counts


def nearest_prototype_distance(embeddings: torch.Tensor, prototypes: torch.Tensor) -> torch.Tensor:
    """Euclidean distance of each embedding ``[Q, D]`` to its nearest prototype ``[K, D]`` -> ``[Q]``."""
    return torch.cdist(embeddings.double(), prototypes.double()).min(dim=1).values


def calibrate_threshold(known_distances: torch.Tensor, reject_rate: float) -> float:
    """The distance above which a share ``reject_rate`` of faces of known classes lies (their
    ``1 - reject_rate`` quantile, linear interpolation), so that share would be called unknown."""
    if not 0.0 < reject_rate < 1.0:
        raise ValueError(f"--reject-rate must be between 0 and 1 (the share of known faces called unknown), "
                         f"got {reject_rate}.")
    if known_distances.numel() == 0:
        raise ValueError("no validation faces to calibrate the unknown threshold on.")
    return float(torch.quantile(known_distances.double(), 1.0 - reject_rate))


def save_exported(out: Path, learner: FewShotLearner, config: dict[str, Any], class_names: list[str],
                  support_x: torch.Tensor, support_y: torch.Tensor, prototypes: torch.Tensor,
                  threshold: float | None, source: str, preprocessing: dict[str, Any] | None = None) -> None:
    """Write the three files of an exported model into ``out`` (created; existing files of the
    same names are replaced, each atomically). ``preprocessing``: how the support faces were
    cropped (``detect_faces``, ``face_detector``, ``align``), which ``predict --model`` repeats."""
    from safetensors.torch import save  # installed with timm

    from episodes import atomic_open

    weights = {k: v.detach().cpu().contiguous().clone() for k, v in learner.state_dict().items()}
    for name, tensors in (("weights.safetensors", weights),
                          ("support.safetensors", {"support_x": support_x.cpu().contiguous(),
                                                   "support_y": support_y.cpu().long().contiguous(),
                                                   "prototypes": prototypes.cpu().float().contiguous()})):
        with atomic_open(out / name, "wb") as f:
            f.write(save(tensors))
    info = {"format": FORMAT, "model": {k: config[k] for k in (*CONFIG_KEYS, "learner_kwargs", "backbone_kwargs")},
            "class_names": class_names, "unknown_threshold": threshold, "exported_from": source,
            "preprocessing": preprocessing or {"detect_faces": False, "face_detector": "none", "align": False}}
    with atomic_open(out / "config.json") as f:
        json.dump(info, f, indent=2)


def load_exported(folder: str | Path, device: torch.device | str = "cpu"
                  ) -> tuple[FewShotLearner, dict[str, Any], dict[str, torch.Tensor]]:
    """An exported model folder -> (learner in eval mode on ``device``, the ``config.json`` dict,
    the support tensors ``support_x``, ``support_y``, ``prototypes``). Only tensors are read."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    missing = [name for name in FILES if not (folder / name).is_file()]
    if not folder.is_dir() or missing:
        raise FileNotFoundError(f"--model {folder} is not an exported model folder (missing {', '.join(missing)}); "
                                f"make one with fewshot-fer export.")
    try:
        info = json.loads((folder / "config.json").read_text())
        config = info["model"]
        weights, support = load_file(str(folder / "weights.safetensors")), load_file(str(folder / "support.safetensors"))
    except (ValueError, KeyError, TypeError, SafetensorError) as err:
        raise ValueError(f"--model {folder}: its files could not be read ({err}); export the model again.") from None
    if info.get("format") != FORMAT:
        raise ValueError(f"--model {folder}: config.json has format {info.get('format')!r}, not {FORMAT!r}.")
    try:
        learner = build_model(config)
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"--model {folder}: config.json does not describe a model ({err}).") from None
    try:
        learner.load_state_dict(weights)
    except RuntimeError as err:
        problem = state_mismatch(learner.state_dict(), weights) or str(err).strip().splitlines()[0]
        raise ValueError(f"--model {folder}: weights.safetensors does not fit its config.json ({problem}).") from None
    return learner.to(device).eval(), info, support
