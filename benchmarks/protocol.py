"""Benchmark protocols: reading and checking ``benchmarks/protocols/*.yaml`` (which data trains,
selects and tests a model, its episode shapes and input format, ``train_as``), and the data flags
of each part. ``benchmarks/run.py`` trains and scores models on them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from fewshot_fer.data import create_dataset, loader_options
from fewshot_fer.data.catalog import all_options
from fewshot_fer.labels import parse_classes

PROTOCOL_DIR = Path(__file__).with_name("protocols")
REQUIRED = {"name", "source", "select", "target", "unseen", "train", "eval"}
# a classifier's protocol (``task: classification``): trained on the source, selected on the
# select split, scored on the target split's faces rather than on episodes
CLASSIFICATION_REQUIRED = {"name", "task", "source", "select", "target"}


def load_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist.")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping.")
    return data


def load_protocol(name_or_path: str) -> dict[str, Any]:
    path = Path(name_or_path)
    path = path if path.suffix == ".yaml" else PROTOCOL_DIR / f"{name_or_path}.yaml"
    protocol = load_yaml(path)
    required = CLASSIFICATION_REQUIRED if protocol.get("task") == "classification" else REQUIRED
    missing = sorted(required - set(protocol))
    if missing:
        raise ValueError(f"protocol {path} lacks the keys {missing}; see benchmarks/protocols/synthetic.yaml.")
    if protocol.get("train_as"):  # another protocol's trained models, scored on this one's target
        other = load_protocol(protocol["train_as"])
        differ = [k for k in ("source", "select", "train", "input") if other.get(k) != protocol.get(k)]
        if differ or other.get("train_as"):
            raise ValueError(f"protocol {path} trains as {protocol['train_as']!r}, so its {differ or 'train_as'} "
                             f"must equal that protocol's.")
        protocol["_trained_by"], protocol["_training"] = other["name"], other
    return protocol


def training_name(protocol: dict[str, Any]) -> str:
    """Prefix of the run directories a protocol's models train in (shared with ``train_as``)."""
    return protocol.get("_trained_by") or protocol["name"]


def classes_of(part: dict[str, Any], split: str, roots: dict[str, str], image_size: int) -> list[str]:
    """The classes a protocol part really holds, read from the data (as training will see it)."""
    options = {k: part[k] for k in loader_keys() if part.get(k) is not None}
    data = create_dataset(part["dataset"], split, roots.get(part["dataset"]), image_size,
                          classes=parse_classes(part.get("classes")), **loader_options(options, part["dataset"]))
    return data.present_classes()


def check_protocol(protocol: dict[str, Any], roots: dict[str, str], image_size: int) -> tuple[list[str], list[str]]:
    """Refuse a protocol whose "unseen" target classes occur in training; return the shared classes
    and the target's classes."""
    seen = classes_of(protocol["source"], "train", roots, image_size)
    target = classes_of(protocol["target"], protocol["target"]["split"], roots, image_size)
    shared = sorted(set(seen) & set(target))
    if protocol["unseen"] and shared:
        raise ValueError(f"protocol {protocol['name']!r} declares its target classes unseen, but {shared} "
                         f"are also training classes of {protocol['source']['dataset']}.")
    return shared, target


def loader_keys() -> list[str]:
    """The reading options a protocol part may set (every dataset's own, from the catalogue)."""
    return [o.name for o in all_options()]


def data_settings(part: dict[str, Any], roots: dict[str, str], prefix: str = "") -> dict[str, Any]:
    """A protocol part's folder, classes and reading options as command settings (``prefix``
    ``val_`` for the validation data; the reading options have none: a run reads every dataset
    with the same ones)."""
    settings: dict[str, Any] = {}
    if roots.get(part["dataset"]):
        settings[f"{prefix}data_root"] = str(roots[part["dataset"]])
    if part.get("classes"):
        settings[f"{prefix}classes"] = ",".join(part["classes"])
    settings.update({key: part[key] for key in loader_keys() if part.get(key) not in (None, False)})
    return settings


INPUT_KEYS = {"image_size", "channels", "normalization"}


def protocol_settings(protocol: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """The config's ``train:`` settings with the protocol's ``input:`` format over them."""
    fixed = protocol.get("input") or {}
    unknown = sorted(set(fixed) - INPUT_KEYS)
    if unknown:
        raise ValueError(f"protocol {protocol['name']!r}: input keys {unknown} are not among {sorted(INPUT_KEYS)}.")
    return {**(config.get("train") or {}), **fixed}
def selection_settings(protocol: dict[str, Any], roots: dict[str, str]) -> dict[str, Any]:
    """Training data, and the validation data and episode shape that select the epoch."""
    src, sel, v = protocol["source"], protocol["select"], protocol["eval"]
    same = sel["dataset"] == src["dataset"]  # then --data-root serves both
    return {"dataset": src["dataset"], **data_settings(src, roots), "val_dataset": sel["dataset"],
            **data_settings(sel, {} if same else roots, "val_"), "val_way": v["way"], "val_shot": v["shot"]}


def experiment_protocol(config: dict[str, Any], keys: frozenset[str], kind: str) -> dict[str, Any]:
    """The one classification protocol of an experiment config (``experiment: KIND``), after its keys
    are checked against ``keys``; one sentence naming the config for anything else."""
    path = config["_path"]
    unknown = sorted(set(config) - keys - {"_path", "_command"})
    if unknown:
        raise ValueError(f"{path}: unknown key {unknown[0]!r}; a {kind} config has the keys {', '.join(sorted(keys))}.")
    if not (isinstance(config.get("protocols"), list) and len(config["protocols"]) == 1):
        raise ValueError(f"{path}: protocols must name one classification protocol, got {config.get('protocols')!r}.")
    protocol = load_protocol(config["protocols"][0])
    if protocol.get("task") != "classification":
        raise ValueError(f"{path}: protocol {protocol['name']!r} is not a classification protocol (task: "
                         f"classification, e.g. fer2013-classification); the {kind} experiment runs on one.")
    return protocol
