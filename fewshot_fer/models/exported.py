"""A trained few-shot model you can hand to someone: one folder, no pickles, no training code.

``fewshot-fer export`` writes, and ``predict --model DIR`` reads:

- ``weights.safetensors``: the learner's weights and buffers;
- ``support.safetensors``: the support faces (uint8 ``[N, C, S, S]``), their labels ``[N]`` and
  the class prototypes, the mean backbone embedding of each class ``[n_classes, D]``; absent from
  a folder exported without support faces (the shipped model's), which predicts once given some;
- ``config.json``: how to rebuild and feed the model (learner, backbone, options, image size,
  channels, normalisation), how faces were cropped (``preprocessing``), the class names, and the
  open-set threshold when calibrated.

Open-set rejection: a face whose embedding is farther from every prototype than ``threshold``
(Euclidean, in the backbone's embedding space) is reported as ``unknown``. ``calibrate_threshold``
sets it so that a chosen share of faces of known classes (validation episodes) would be rejected.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

from ..backbones import BACKBONES
from ..data.faces import DETECTORS
from ..data.images import is_regular_file
from ..errors import excerpt
from ..learners import LEARNERS, FewShotLearner
from ..weights import CONFIG_KEYS, state_mismatch
from .build import build_model

FORMAT = "fewshot-fer-exported-model/1"
FILES = ("config.json", "weights.safetensors")
SUPPORT_FILE = "support.safetensors"  # absent when exported without support faces
CASCADE_FILE = "face_detector.xml"  # a cascade XML named as the support faces' detector, copied in
ONNX_FILE = "model.onnx"  # export --format onnx: the network and its support set as one graph (onnx_export.py)
OPTIONAL_FILES = (SUPPORT_FILE, CASCADE_FILE, ONNX_FILE)


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


MAX_CONFIG_BYTES = 1_000_000  # a config.json is a few hundred bytes; more is not ours
MAX_IMAGE_SIZE = 1024  # pixels per side a model may read faces at
MAX_CLASSES = 1000
MAX_OPTION_INT = 100_000  # any whole-number learner or backbone option (steps, widths)


def save_exported(out: Path, learner: FewShotLearner, config: dict[str, Any], class_names: list[str] | None,
                  support_x: torch.Tensor | None, support_y: torch.Tensor | None, prototypes: torch.Tensor | None,
                  threshold: float | None, source: str, preprocessing: dict[str, Any] | None = None,
                  more: Callable[[Path], dict[str, Any]] | None = None) -> None:
    """Write an exported model folder ``out`` whole or not at all: its files go into a temporary
    sibling folder that then takes ``out``'s place, so a failure (a full disk, Ctrl-C) leaves the
    old folder as it was. An existing ``out`` must be an exported model folder holding nothing
    else (it is replaced) or empty. ``preprocessing``: how the support faces were cropped
    (``detect_faces``, ``face_detector``, ``align``), which ``predict --model`` repeats; a cascade
    XML file named as the detector is copied into the folder. Without support faces (``support_x``
    ``None``) the folder holds the network alone, with no class names and no threshold. ``more(folder)`` writes further files
    into the folder being made and returns their ``config.json`` entries (``onnx_export.write_onnx``)."""
    from safetensors.torch import save  # installed with timm

    out = Path(out)
    check_replaceable(out)
    preprocessing = dict(preprocessing or {"detect_faces": False, "face_detector": "none", "align": False})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        if preprocessing.get("face_detector") not in DETECTORS:
            shutil.copyfile(preprocessing["face_detector"], tmp / CASCADE_FILE)
            preprocessing["face_detector"] = CASCADE_FILE
        weights = {k: v.detach().cpu().contiguous().clone() for k, v in learner.state_dict().items()}
        (tmp / "weights.safetensors").write_bytes(save(weights))
        if support_x is not None:
            (tmp / SUPPORT_FILE).write_bytes(save({"support_x": support_x.cpu().contiguous(),
                                                   "support_y": support_y.cpu().long().contiguous(),
                                                   "prototypes": prototypes.cpu().float().contiguous()}))
        info = {"format": FORMAT, "model": {k: config[k] for k in (*CONFIG_KEYS, "learner_kwargs", "backbone_kwargs")},
                "class_names": class_names, "unknown_threshold": threshold, "exported_from": source,
                "preprocessing": preprocessing}
        if more is not None:
            info.update(more(tmp))
        (tmp / "config.json").write_text(json.dumps(info, indent=2))
        for path in tmp.iterdir():
            with open(path, "rb") as f:
                os.fsync(f.fileno())
        replace_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # the temporary folder is ours alone
        raise


def check_replaceable(out: Path) -> None:
    """A ``ValueError`` unless ``out`` is absent, an empty folder, or an exported model folder
    holding only the files export writes (replacing it deletes nothing of a user's)."""
    if not out.exists():
        if out.parent.exists() and not out.parent.is_dir():
            raise ValueError(f"--out {out}: {out.parent} is a file, not a folder.")
        return
    if not out.is_dir():
        raise ValueError(f"--out {out} is a file; name a new folder (or an exported model folder to replace).")
    names = {p.name for p in out.iterdir()}
    if names and not (set(FILES) <= names <= {*FILES, *OPTIONAL_FILES}):
        foreign = sorted(names - {*FILES, *OPTIONAL_FILES})
        raise ValueError(f"--out {out} holds files export did not write ({excerpt(foreign)}); "
                         f"name a new folder, so nothing of yours is replaced.")


def replace_folder(new: Path, out: Path) -> None:
    """Put folder ``new`` in the place of ``out`` (checked by ``check_replaceable``): rename the
    old folder aside, rename the new one in, then delete the old one's files (export's own)."""
    if not out.exists():
        os.replace(new, out)
        return
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    os.replace(out, old)
    os.replace(new, out)
    for path in old.iterdir():
        path.unlink()
    old.rmdir()


def load_exported(folder: str | Path, device: torch.device | str = "cpu"
                  ) -> tuple[FewShotLearner, dict[str, Any], dict[str, torch.Tensor]]:
    """An exported model folder -> (learner in eval mode on ``device``, the checked ``config.json``
    dict, the support tensors ``support_x``, ``support_y``, ``prototypes``, or ``{}`` for a folder
    exported without support faces). Only tensors are read;
    every key of ``config.json`` and every tensor's shape is checked first (``check_exported``)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    folder = Path(folder)
    missing = [name for name in FILES if not is_regular_file(folder / name)]
    if not folder.is_dir() or missing:
        raise FileNotFoundError(f"--model {folder} is not an exported model folder (missing {', '.join(missing)}); "
                                f"make one with fewshot-fer export.")
    info = read_config_json(folder)
    try:
        weights = load_file(str(folder / "weights.safetensors"))
        support = load_file(str(folder / SUPPORT_FILE)) if is_regular_file(folder / SUPPORT_FILE) else None
    except (ValueError, OSError, SafetensorError) as err:
        raise ValueError(f"--model {folder}: its files could not be read ({excerpt(str(err), 120)}); "
                         f"export the model again.") from None
    check_exported(folder, info, support)
    support = support if support is not None else {}
    config = info["model"]
    try:
        learner = build_model(config)
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"--model {folder}: config.json does not describe a model ({excerpt(str(err), 160)}).") from None
    try:
        learner.load_state_dict(weights)
    except RuntimeError as err:
        problem = state_mismatch(learner.state_dict(), weights) or str(err).strip().splitlines()[0]
        raise ValueError(f"--model {folder}: weights.safetensors does not fit its config.json ({problem}).") from None
    return learner.to(device).eval(), info, support


def read_config_json(folder: Path) -> dict[str, Any]:
    """``folder``'s ``config.json`` parsed, or one sentence: too large, not JSON, nested too deeply,
    not an object."""
    path, where = folder / "config.json", f"--model {folder}: config.json"
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ValueError(f"{where} is {size:,} bytes, more than the {MAX_CONFIG_BYTES:,} a model's config.json can be.")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{where} is not valid JSON ({excerpt(str(err), 80)}); export the model again.") from None
    except RecursionError:
        raise ValueError(f"{where} is nested too deeply to be a model's config.json.") from None
    if not isinstance(info, dict):
        raise ValueError(f"{where} must hold a JSON object, got {type(info).__name__}.")
    return info


def check_exported(folder: Path, info: dict[str, Any], support: dict[str, torch.Tensor] | None) -> None:
    """The schema of an exported model: every key of ``config.json`` (types, ranges, the
    detector's file inside the folder) and the support tensors' shapes against it (``None``: the
    folder has no support file), each failure one sentence naming the file, the key and what was
    expected."""
    def need(ok: bool, key: str, expected: str, value: Any) -> None:
        if not ok:
            raise ValueError(f"--model {folder}: config.json key {key} must be {expected}, got {excerpt(value)}.")

    def number(value: Any) -> bool:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)

    need(info.get("format") == FORMAT, "format", repr(FORMAT), info.get("format"))
    model = info.get("model")
    need(isinstance(model, dict), "model", "an object", model)
    need(model.get("learner") in LEARNERS.names(), "model.learner", f"one of {', '.join(LEARNERS.names())}",
         model.get("learner"))
    backbone = model.get("backbone")
    need(isinstance(backbone, str) and (backbone in BACKBONES.names() or backbone.startswith("timm:")),
         "model.backbone", f"one of {', '.join(BACKBONES.names())} or timm:NAME", backbone)
    need(model.get("in_chans") in (1, 3) and not isinstance(model.get("in_chans"), bool), "model.in_chans", "1 or 3",
         model.get("in_chans"))
    size = model.get("image_size")
    need(isinstance(size, int) and not isinstance(size, bool) and 8 <= size <= MAX_IMAGE_SIZE, "model.image_size",
         f"a whole number from 8 to {MAX_IMAGE_SIZE}", size)
    need(number(model.get("mean")), "model.mean", "a finite number", model.get("mean"))
    need(number(model.get("std")) and model.get("std", 0) > 0, "model.std", "a finite number above 0", model.get("std"))
    for key in ("learner_kwargs", "backbone_kwargs"):
        options = model.get(key, {})
        need(isinstance(options, dict), f"model.{key}", "an object of options", options)
        for name, value in options.items():
            need(value is None or isinstance(value, (bool, str)) or (number(value) and abs(value) <= MAX_OPTION_INT),
                 f"model.{key}.{name}", f"a number of at most {MAX_OPTION_INT:,}, a boolean or a string", value)
    names = info.get("class_names")
    if support is None:  # the network alone: classes and threshold come with the support faces given to it
        need(names is None, "class_names", f"null in a folder without {SUPPORT_FILE}", names)
        need(info.get("unknown_threshold") is None, "unknown_threshold", f"null in a folder without {SUPPORT_FILE}",
             info.get("unknown_threshold"))
    else:
        need(isinstance(names, list) and 2 <= len(names) <= MAX_CLASSES and
             all(isinstance(n, str) and 0 < len(n.strip()) <= 100 for n in names) and len(set(names)) == len(names),
             "class_names", f"a list of 2 to {MAX_CLASSES} different names of 1 to 100 characters", names)
    threshold = info.get("unknown_threshold")
    need(threshold is None or (number(threshold) and threshold >= 0), "unknown_threshold",
         "null or a finite number of at least 0", threshold)
    prep = info.get("preprocessing", {})
    need(isinstance(prep, dict), "preprocessing", "an object", prep)
    for key in ("detect_faces", "align"):
        need(isinstance(prep.get(key, False), bool), f"preprocessing.{key}", "true or false", prep.get(key))
    detector = prep.get("face_detector", "none")
    inside = isinstance(detector, str) and detector not in DETECTORS and "/" not in detector and "\\" not in detector \
        and detector not in ("", ".", "..") and is_regular_file(folder / detector)
    need(detector in DETECTORS or inside, "preprocessing.face_detector",
         f"one of {', '.join(DETECTORS)} or the name of a cascade XML file inside the folder", detector)
    if support is None:
        return
    x, y, prototypes = support.get("support_x"), support.get("support_y"), support.get("prototypes")
    shape = ("N", model["in_chans"], size, size)
    if x is None or y is None or prototypes is None or x.dtype != torch.uint8 or x.dim() != 4 or \
            tuple(x.shape[1:]) != shape[1:] or y.dim() != 1 or len(y) != len(x) or y.dtype != torch.int64 or len(y) == 0:
        raise ValueError(f"--model {folder}: support.safetensors must hold support_x uint8 {list(shape)} and "
                         f"support_y int64 [N] to match config.json; export the model again.")
    labels = torch.unique(y).tolist()
    need(labels == list(range(len(names))), "class_names",
         f"one name per support label ({len(labels)} labels in support.safetensors)", names)
    if prototypes.dim() != 2 or len(prototypes) != len(names) or not torch.isfinite(prototypes).all():
        raise ValueError(f"--model {folder}: support.safetensors must hold finite prototypes [{len(names)}, D], one per "
                         f"class of config.json; export the model again.")
