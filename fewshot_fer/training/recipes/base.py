"""Settings groups and recipes: the typed source of truth of every training command.

A ``Settings`` group is a frozen dataclass of ``setting`` fields (``fields.py``) checked when it
is built. A ``Recipe`` is one method family's groups (``EpisodicRecipe``: data, episodes, model,
optim, run). Every setting has a key that is unique in its recipe, which is also its flag
(``lr`` -> ``--lr``) and its key in ``args.yaml``; a recipe is built from such flat keys
(``Recipe.build``) or from group mappings (``{"optim": {"lr": 5e-5}}``), and written back out
flat (``recipe.settings()``).
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterable, Mapping, TypeVar

from ...errors import excerpt
from .fields import check_fields, coerce

R = TypeVar("R", bound="Recipe")

# Keys a run adds to its settings to describe itself (not settings of the recipe): building a
# recipe from a run's args.yaml or checkpoint skips them.
RECORDED_KEYS = frozenset({"train_classes", "world_size", "backbone_options"})


@dataclass(frozen=True)
class Settings:
    """A group of settings, checked field by field when built, then as a whole (``check``)."""

    title: ClassVar[str] = ""
    trailing: ClassVar[tuple[str, ...]] = ()  # settings a subclass's own come before (in --help)

    def __post_init__(self) -> None:
        check_fields(self)
        self.check()

    def check(self) -> None:
        """Checks across the group's fields (a ``ValueError`` sentence); none by default."""


@dataclass(frozen=True)
class Recipe:
    """A method family's settings, as groups; ``command`` is the module that runs it
    (``python -m fewshot_fer.<command>``)."""

    command: ClassVar[str] = ""
    resumable: ClassVar[frozenset[str]] = frozenset()  # settings a resumed run may change

    def __post_init__(self) -> None:
        self.check()

    def check(self) -> None:
        """Checks across groups (a ``ValueError`` sentence); none by default."""

    # ---- structure ---------------------------------------------------------------------------

    @classmethod
    def groups(cls) -> dict[str, type[Settings]]:
        """Group name -> its settings class, in the order of the fields (and of ``--help``)."""
        hints = typing.get_type_hints(cls)
        return {f.name: hints[f.name] for f in dataclasses.fields(cls)}

    @classmethod
    def keys(cls) -> dict[str, str]:
        """Setting key -> the group holding it (a data group's reading options are in its ``reading``)."""
        out: dict[str, str] = {}
        for group, kind in cls.groups().items():
            for f in group_fields(kind):
                out[f.name] = group
            for key in getattr(kind, "extra_keys", lambda: ())():
                out[key] = group
        return out

    # ---- building ----------------------------------------------------------------------------

    @classmethod
    def build(cls: type[R], *sources: tuple[str, Mapping[str, Any]], lenient: bool = False) -> R:
        """The recipe of ``sources`` (``(where, settings)`` pairs, later ones winning), each key
        checked against its field with ``where`` in the sentence: ``config file c.yaml: lr
        (--lr) must be a number, got 'fast'.`` Settings are flat keys (dashes or underscores) or
        group mappings; ``None`` keeps the default. ``lenient``: skip keys this recipe does not
        know (a checkpoint written by an older version)."""
        merged: dict[str, Any] = {}
        for where, values in sources:
            merged.update(cls.check_settings(values, where, lenient))
        return cls.from_flat(merged)

    @classmethod
    def check_settings(cls, values: Mapping[str, Any], where: str, lenient: bool = False) -> dict[str, Any]:
        """Some settings (flat or grouped) checked one by one, without building a recipe: their
        flat keys and checked values (``None`` values and recorded keys left out). An unknown key
        (unless ``lenient``) or a wrong value is one sentence naming ``where``."""
        keys, checked = cls.keys(), {}
        for key, value in cls.flatten(values, where).items():
            if key in RECORDED_KEYS or value is None:
                continue
            if key not in keys:
                if lenient:
                    continue
                raise ValueError(f"{where} has unknown key {excerpt(key)}; the keys are the flag names without "
                                 f"their leading dashes, e.g. {', '.join(list(keys)[:6])} (see --help).")
            try:
                checked[key] = cls.check_value(key, value)
            except ValueError as err:
                raise ValueError(f"{where}: {err}") from None
        return checked

    @classmethod
    def flatten(cls, values: Mapping[str, Any], where: str) -> dict[str, Any]:
        """Flat keys with underscores, from flat keys or ``{group: {key: value}}`` mappings."""
        if not isinstance(values, Mapping):
            raise ValueError(f"{where} must be a mapping of settings, got {excerpt(values)}.")
        groups, flat = cls.groups(), {}
        for key, value in values.items():
            name = str(key).replace("-", "_")
            if name in groups and isinstance(value, Mapping):
                flat.update(cls.flatten(value, f"{where}, group {name}"))
            else:
                flat[name] = value
        return flat

    @classmethod
    def check_value(cls, key: str, value: Any) -> Any:
        """One setting's value, coerced to its type and checked (``ValueError`` naming it)."""
        kind = cls.groups()[cls.keys()[key]]
        field = next((f for f in dataclasses.fields(kind) if f.name == key), None)
        if field is None:  # a reading option of the data group
            return kind.check_extra(key, value)
        return coerce(field, typing.get_type_hints(kind)[key], value)

    @classmethod
    def from_flat(cls: type[R], values: Mapping[str, Any]) -> R:
        """The recipe of checked flat settings (unset ones keep their defaults)."""
        keys, parts = cls.keys(), {name: {} for name in cls.groups()}
        for key, value in values.items():
            group = keys[key]
            kind = cls.groups()[group]
            if key in getattr(kind, "extra_keys", lambda: ())():
                parts[group].setdefault("reading", {})[key] = value
            else:
                parts[group][key] = value
        return cls(**{name: kind(**parts[name]) for name, kind in cls.groups().items()})

    # ---- writing -----------------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """The flat settings: what ``args.yaml`` records and ``--config`` reads back."""
        flat: dict[str, Any] = {}
        for name in self.groups():
            part = dataclasses.asdict(getattr(self, name))
            reading = part.pop("reading", {})
            flat.update(part)
            flat.update(reading)
        return flat

    @classmethod
    def from_yaml(cls: type[R], path: str | Path) -> R:
        """The recipe of a YAML file of settings, such as a run's own ``args.yaml`` (its recorded
        keys are skipped), checked like ``--config FILE``."""
        from ...yamlio import read_yaml

        return cls.build((f"config file {path}", read_yaml(Path(path), "config file")))

    def replace(self: R, where: str = "replace()", **settings: Any) -> R:
        """This recipe with some flat settings replaced (checked like ``build``)."""
        return type(self).build(("recipe", self.settings()), (where, settings))


def group_fields(kind: type[Settings]) -> Iterable[dataclasses.Field]:
    """The settings of a group that are flags (every field but a data group's ``reading``), the
    group's ``trailing`` ones last."""
    flags = [f for f in dataclasses.fields(kind) if f.name != "reading"]
    return sorted(flags, key=lambda f: f.name in kind.trailing)
