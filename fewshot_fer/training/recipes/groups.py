"""The settings groups the training recipes share: what is read (``DataSettings``), the input
format, the model, and where the run happens (``RunSettings``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ...data import DATASETS
from ...data.catalog import COMMON_OPTIONS, LoaderOption, all_options, refuse_inapplicable, sources
from ...data.transforms import AUGMENTATION_HELP, AUGMENTATIONS, NORMALIZATION_HELP, NORMALIZATIONS
from ..schedule import SCHEDULE_HELP, parse_step
from .base import Settings
from .fields import at_least, coerce, non_negative, positive, setting

BACKBONE_HELP = "feature extractor: {}, or timm:NAME (any timm model, as a feature extractor; weights only from --pretrained)"


def lr_schedule(value: str) -> str | None:
    """What ``--lr-schedule`` must be, when ``value`` is not it."""
    try:
        parse_step(value)
    except ValueError:
        return "cosine, constant or step:EVERY:FACTOR (EVERY a positive whole number of epochs, FACTOR > 0)"
    return None


def reading_options() -> list[LoaderOption]:
    """Every dataset's reading options (``--cache-dir``, ``--face-detector`` ...), from the catalogue."""
    return list(COMMON_OPTIONS) + all_options()


@dataclass(frozen=True)
class InputSettings(Settings):
    """How faces are fed to the model (recorded in the checkpoint), and how the datasets are read
    (``reading``: the catalogue's options, ``--cache-dir``, ``--strict``, ``--face-detector`` ...)."""

    title = "data"
    trailing = ("image_size", "channels", "normalization")
    image_size: int = setting(48, "faces are resized to this many pixels square", checks=(positive,))
    channels: int = setting(1, "1 grayscale, 3 RGB", choices=(1, 3))
    normalization: str = setting("half", NORMALIZATION_HELP, choices=tuple(NORMALIZATIONS))
    reading: dict[str, Any] = setting({}, "dataset reading options (their flags are listed in --help)")

    @classmethod
    def extra_keys(cls) -> list[str]:
        return [o.name for o in reading_options()]

    @classmethod
    def check_extra(cls, key: str, value: Any) -> Any:
        """One reading option's value, checked against its kind in the catalogue."""
        option = next(o for o in reading_options() if o.name == key)
        field = dataclasses.field(metadata={"help": option.help})
        field.name = key
        return coerce(field, option.kind if option.kind is bool else option.kind | None, value)

    def datasets(self) -> str:
        """The datasets the reading options must apply to (``a,b`` for several)."""
        return ""

    def check(self) -> None:
        options = {o.name: o.default for o in reading_options()}
        unknown = set(self.reading) - set(options)
        if unknown:
            raise ValueError(f"{sorted(unknown)[0]!r} is not a reading option; the options are "
                             f"{', '.join(options)}.")
        checked = {k: self.check_extra(k, v) for k, v in self.reading.items()}
        object.__setattr__(self, "reading", {**options, **checked})
        if self.datasets():
            refuse_inapplicable({o.name: self.reading[o.name] for o in all_options() if o.default is None},
                                self.datasets())


@dataclass(frozen=True)
class DataSettings(InputSettings):
    """What a run trains and validates on."""

    dataset: str = setting("synthetic-basic", f"training dataset: {', '.join(DATASETS.names())}; several sources as "
                                              f"a,b (one --data-root folder each, comma-separated)")
    val_dataset: str | None = setting(None, "validation dataset (its 'val' split); default: synthetic-compound when "
                                            "training on synthetic-basic, otherwise the training dataset")
    data_root: str | None = setting(None, "folder of the dataset as unpacked (unused for synthetic)")
    val_data_root: str | None = setting(None, "folder of the validation dataset (default: --data-root; set it when "
                                              "--val-dataset is another real dataset)")
    classes: str | None = setting(None, "comma-separated training classes (default: all)")
    val_classes: str | None = setting(None, "comma-separated validation classes (default: all)")

    def datasets(self) -> str:
        return ",".join(dict.fromkeys(sources(self.dataset) + sources(self.val_dataset or self.dataset)))

    def check(self) -> None:
        if self.val_dataset is None:
            object.__setattr__(self, "val_dataset",
                               "synthetic-compound" if self.dataset == "synthetic-basic" else self.dataset)
        super().check()


@dataclass(frozen=True)
class RunSettings(Settings):
    """Where and how the run happens."""

    title = "run"
    seed: int = setting(0, "seed of episodes, augmentation and initial weights", checks=(non_negative,))
    device: str = setting("auto", "auto, cpu, cuda, cuda:N or mps")
    output: str = setting("runs", "folder that receives the run directory")
    name: str | None = setting(None, "run directory name (default: made of the method, backbone, dataset and time)")
    resume: str | None = setting(None, "continue the run in RUN_DIR from its last.pt (same settings; --epochs may be "
                                       "raised)", metavar="RUN_DIR")


def schedule_setting(default: str, extra: str = "") -> Any:
    return setting(default, SCHEDULE_HELP + extra, checks=(lr_schedule,))


def augmentation_setting(default: str) -> Any:
    return setting(default, AUGMENTATION_HELP, choices=AUGMENTATIONS)


def backbone_setting(default: str, help: str | None = None) -> Any:
    from ...backbones import BACKBONES

    return setting(default, help or BACKBONE_HELP.format(", ".join(BACKBONES.names())))


def epochs_setting(default: int, help: str = "training epochs (the most, when --patience stops earlier)") -> Any:
    return setting(default, help, checks=(positive,))


def patience_setting(default: int) -> Any:
    return setting(default, "stop after this many epochs without a better validation accuracy (0: never)",
                   checks=(non_negative,))


def options_setting(help: str) -> Any:
    return setting(None, help, metavar="KEY=VALUE")


WAY = at_least(2)  # one class makes every prediction right: not a few-shot task
