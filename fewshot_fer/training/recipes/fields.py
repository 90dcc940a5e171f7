"""Typed settings: a dataclass field that knows its help text, choices and bounds, and the one
checking step every source of a value goes through (a keyword argument, a YAML key, a flag).

A value is coerced to the field's annotated type the way a command line reads it (``"0.5"`` is a
float, ``7`` a string for a string field) and refused in one sentence naming the setting, its flag
and what was expected. Bounds are small functions (``positive``, ``at_least(2)``, ``share``) kept
in the field's metadata, so the command-line help and the checks come from the same place.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, Callable, Sequence

from ...errors import excerpt
from ...limits import SIZE_LIMITS

MAX_VALUE_CHARS = 1000  # one setting's text: a path, a class list, an option
Check = Callable[[Any], "str | None"]  # returns what was expected when the value is refused


def setting(default: Any, help: str, *, choices: Sequence[Any] | None = None, checks: Sequence[Check] = (),
            metavar: str | None = None, flag: str | None = None) -> Any:
    """A dataclass field of a settings group. ``checks`` say what a value must be (each returns
    the expectation when refusing it); ``flag`` replaces ``--name`` (``--no-augment`` for a switch
    that is on by default)."""
    meta = {"help": help, "choices": tuple(choices) if choices else None, "checks": tuple(checks),
            "metavar": metavar, "flag": flag}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def flag_of(field: dataclasses.Field) -> str:
    return field.metadata.get("flag") or "--" + field.name.replace("_", "-")


def named(field: dataclasses.Field) -> str:
    """How a sentence names a setting: its key, then its flag (``lr (--lr)``)."""
    flag = flag_of(field)
    return field.name if flag.startswith("--no-") else f"{field.name} ({flag})"


# ---- bounds ------------------------------------------------------------------------------------

def positive(value: Any) -> str | None:
    return None if value is None or (0 < value < math.inf) else "a positive, finite number"


def non_negative(value: Any) -> str | None:
    return None if value is None or (0 <= value < math.inf) else "0 or more"


def at_least(low: int) -> Check:
    def check(value: Any) -> str | None:
        return None if value is None or value >= low else f"{low} or more"
    return check


def in_range(low: float, high: float, high_open: bool = False) -> Check:
    """A value in [low, high] (or [low, high) with ``high_open``)."""
    def check(value: Any) -> str | None:
        inside = low <= value < high if high_open else low <= value <= high
        return None if value is None or inside else f"in [{low}, {high}{')' if high_open else ']'}"
    return check


share = in_range(0, 1)


# ---- coercion ----------------------------------------------------------------------------------

def base_type(annotation: Any) -> tuple[Any, bool]:
    """``int | None`` -> ``(int, True)``; ``list[str] | None`` -> ``(list[str], True)``."""
    args = typing.get_args(annotation)
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return rest[0], True
    return annotation, False


def coerce(field: dataclasses.Field, annotation: Any, value: Any) -> Any:
    """``value`` as the field's type, or a ``ValueError`` sentence naming the field."""
    kind, optional = base_type(annotation)
    kind = dict if typing.get_origin(kind) is dict else kind
    name = named(field)
    if value is None:
        if optional:
            return None
        raise ValueError(f"{name} needs a value, got null.")
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        raise ValueError(f"{name} is a value of more than {MAX_VALUE_CHARS:,} characters ({excerpt(value)}); a "
                         f"setting is a short value.")
    if typing.get_origin(kind) is list:
        items = value if isinstance(value, (list, tuple)) else [value]
        if any(isinstance(v, (list, tuple, dict)) for v in items):
            raise ValueError(f"{name} takes a list of values, got {excerpt(value)}.")
        return [coerce_scalar(field, name, str, v) for v in items]
    if isinstance(value, (list, tuple, dict)) and kind is not dict:
        raise ValueError(f"{name} takes one value, got {excerpt(value)}.")
    out = coerce_scalar(field, name, kind, value)
    choices = field.metadata.get("choices")
    if choices and out not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(str, choices))}, got {excerpt(out)}.")
    for check in field.metadata.get("checks", ()):
        expected = check(out)
        if expected:
            raise ValueError(f"{name} must be {expected}, got {excerpt(out)}.")
    limit = SIZE_LIMITS.get(field.name)
    if limit is not None and isinstance(out, (int, float)) and not isinstance(out, bool) and out > limit:
        raise ValueError(f"{name} must be at most {limit:,}, got {out:,}.")
    return out


def coerce_scalar(field: dataclasses.Field, name: str, kind: Any, value: Any) -> Any:
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {excerpt(value)}.")
        return value
    if kind is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{name} must be a mapping of keys to values, got {excerpt(value)}.")
        return dict(value)
    if isinstance(value, bool):
        raise ValueError(f"{name} must be {WANTED[kind]}, got {value}.")
    if kind is str:
        return str(value)
    try:
        if kind is int:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value) if not isinstance(value, str) else int(value.strip())
        if kind is float:
            return float(value)
    except (ValueError, TypeError, OverflowError):
        raise ValueError(f"{name} must be {WANTED[kind]}, got {excerpt(value)}.") from None
    raise TypeError(f"setting {field.name} has an unsupported type {kind!r}")  # a bug in a settings class


WANTED = {int: "a whole number", float: "a number", str: "a text"}


def check_fields(instance: Any) -> None:
    """Coerce and check every field of a settings dataclass in place (``__post_init__``)."""
    hints = typing.get_type_hints(type(instance))
    for field in dataclasses.fields(instance):
        object.__setattr__(instance, field.name, coerce(field, hints[field.name], getattr(instance, field.name)))
