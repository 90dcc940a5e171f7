"""The dataset catalogue. Every loader registers itself where it is defined, with the reading
options it takes, its labelled splits and whether its items are video clips; the command-line
flags (``add_loader_arguments``), the routing of options to datasets (``loader_options``) and
the commands' video handling are all read from here, so a new dataset or option is one edit."""

from __future__ import annotations

import argparse
import inspect
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..registry import Registry

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class LoaderOption:
    """A reading option: keyword ``name`` of the loaders that take it, flag ``--name-with-dashes``.
    ``kind`` is ``str``, ``int`` or ``bool`` (a switch); ``default`` ``None`` means each loader's own."""

    name: str
    help: str
    kind: type = str
    default: Any = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class DatasetInfo:
    """What a dataset is: ``loader(split, root, image_size, channels, cache_dir=, strict=, **options)``
    returns its ``FaceDataset``; ``splits`` are the labelled ones; ``video``: items are clips
    (groups), so evaluation also reports clip-level accuracy; ``reads_all``: the loader reads split
    ``all`` itself (one subject id space over the whole tree) instead of joining its splits;
    ``generated``: faces rendered from identity-disjoint parameters (no copies between splits, and
    faces a perceptual hash cannot tell apart), so only exact copies are looked for."""

    name: str
    loader: Callable[..., Any]
    options: tuple[LoaderOption, ...] = ()
    splits: tuple[str, ...] = SPLITS
    video: bool = False
    reads_all: bool = False
    generated: bool = False

    def option_names(self) -> set[str]:
        return {o.name for o in self.options}


COMMON_OPTIONS = (
    LoaderOption("cache_dir", "where decoded images and face crops are cached "
                              "(default: $FEWSHOT_FER_CACHE or ~/.cache/fewshot-fer)"),
    LoaderOption("strict", "stop at the first unreadable image or clip instead of skipping it", bool, False),
)
DATASETS: Registry = Registry("dataset")


def register_dataset(name: str, options: tuple[LoaderOption, ...] = (), splits: tuple[str, ...] = SPLITS,
                     video: bool = False, reads_all: bool = False, generated: bool = False) -> Callable:
    """Decorator: register ``loader`` as dataset ``name`` (see ``DatasetInfo``)."""
    def decorator(loader: Callable) -> Callable:
        DATASETS.add(name, DatasetInfo(name, loader, tuple(options), tuple(splits), video, reads_all, generated))
        return loader
    return decorator


def dataset_info(name: str) -> DatasetInfo:
    """The ``DatasetInfo`` of ``name``; an unknown name is one sentence listing the known ones."""
    return DATASETS.get(name)


def all_options() -> list[LoaderOption]:
    """Every dataset-specific option, once each, in the order of the datasets' names."""
    seen: dict[str, LoaderOption] = {}
    for name in DATASETS.names():
        for option in DATASETS.get(name).options:
            seen.setdefault(option.name, option)
    return list(seen.values())


def takers(option: str) -> list[str]:
    """The datasets that take ``option``."""
    return [n for n in DATASETS.names() if option in DATASETS.get(n).option_names()]


def default_text(option: LoaderOption) -> str:
    """The per-dataset defaults of an option whose flag has none, read off the loaders' signatures
    (empty when every loader's default is ``None``)."""
    by_value: dict[Any, list[str]] = {}
    for name in takers(option.name):
        default = inspect.signature(DATASETS.get(name).loader).parameters[option.name].default
        by_value.setdefault(default, []).append(name)
    if set(by_value) == {None}:
        return ""
    return "; ".join(f"{v} for {', '.join(ns)}" for v, ns in by_value.items())


def add_loader_arguments(group: argparse._ActionsContainer) -> None:
    """The flags that say how real datasets are read, shared by every command: the common ones
    and each registered dataset's own, prefixed by the datasets that take it."""
    for option in list(COMMON_OPTIONS) + all_options():
        names = takers(option.name) if option not in COMMON_OPTIONS else []
        text = f"{', '.join(names)}: {option.help}" if names else option.help
        if option.kind is bool:
            group.add_argument(option.flag, action="store_true", help=text)
        else:
            if option.default is None and names and default_text(option):
                text += f" (default: {default_text(option)})"
            group.add_argument(option.flag, type=option.kind, default=option.default, help=text)


GIVEN = "object:"  # the recorded name of a dataset given from Python as a FaceDataset object


def sources(name: str) -> list[str]:
    """The datasets named by ``name`` (``a,b`` for several sources in one)."""
    return [n.strip() for n in name.split(",")]


def accepted(name: str) -> set[str]:
    """The reading options dataset ``name`` takes (for several sources ``a,b``: any of them),
    the common ones included."""
    taken = {o.name for o in COMMON_OPTIONS}
    for source in sources(name):
        if not source.startswith(GIVEN):  # a FaceDataset object is read already
            taken |= dataset_info(source).option_names()
    return taken


def loader_options(settings: Mapping[str, Any], name: str) -> dict[str, Any]:
    """The ``create_dataset`` keyword arguments in ``settings`` (a command's parsed flags) that
    apply to dataset ``name``; unset ones (``None``) are left out, so each loader keeps its own
    default."""
    return {k: settings[k] for k in sorted(accepted(name)) if settings.get(k) is not None}


def refuse_inapplicable(options: Mapping[str, Any], name: str) -> None:
    """A ``ValueError`` naming the first option set in ``options`` that no dataset of ``name`` takes."""
    taken = accepted(name)
    for key, value in options.items():
        if key not in taken and value is not None:
            known = takers(key)
            flag = "--" + key.replace("_", "-")
            if not known:
                raise ValueError(f"{key!r} is not a reading option of any dataset; the options are: "
                                 f"{', '.join(o.name for o in all_options() + list(COMMON_OPTIONS))}.")
            listed = known[0] if len(known) == 1 else f"{', '.join(known[:-1])} and {known[-1]}"
            raise ValueError(f"{flag} applies to the {listed} dataset{'s' if len(known) > 1 else ''}, not {name!r}.")


def dataset_splits(name: str) -> tuple[str, ...]:
    """The labelled splits of dataset ``name`` (for several sources, those all of them have)."""
    shared = [s for s in SPLITS if all(s in dataset_info(n).splits for n in sources(name))]
    return tuple(shared)


def near_threshold(name: str) -> int | None:
    """The perceptual-hash distance under which faces of dataset ``name`` count as copies
    (``near_duplicates.NEAR_THRESHOLD``), or ``None`` (exact copies only) for generated faces."""
    from .near_duplicates import NEAR_THRESHOLD

    return None if any(dataset_info(n).generated for n in sources(name)) else NEAR_THRESHOLD


def is_video(name: str) -> bool:
    """Whether dataset ``name``'s items are video clips (a single dataset; several sources are not,
    nor is a ``FaceDataset`` object, whose faces are scored one by one)."""
    return "," not in name and not name.startswith(GIVEN) and dataset_info(name).video
