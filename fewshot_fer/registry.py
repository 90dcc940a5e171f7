"""A small name -> factory registry, shared by datasets, backbones and learners."""

from __future__ import annotations

import inspect
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T", bound=Callable)


class Registry(Generic[T]):
    """Maps names to factories; ``get`` names the alternatives when a name is unknown."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(factory: T) -> T:
            self.add(name, factory)
            return factory
        return decorator

    def add(self, name: str, entry: T) -> None:
        """Register ``entry`` (a factory, or a description holding one) under ``name``."""
        if name in self._factories:
            raise ValueError(f"{self.kind} {name!r} is registered twice.")
        self._factories[name] = entry

    def get(self, name: str) -> T:
        try:
            return self._factories[name]
        except KeyError:
            raise ValueError(f"unknown {self.kind} {name!r}; choose one of: "
                             f"{', '.join(self.names())}.") from None

    def options(self, name: str) -> list[str]:
        """Keyword arguments factory ``name`` accepts (besides the first, positional one)."""
        params = inspect.signature(self.get(name)).parameters.values()
        return [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]

    def build(self, name: str, *args: Any, **options: Any) -> Any:
        """``get(name)(*args, **options)``, refusing an option the factory does not take with a
        sentence that lists the ones it does."""
        accepted = self.options(name)
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ValueError(f"{self.kind} {name!r} has no option {unknown[0]!r}; its options are: "
                             f"{', '.join(a for a in accepted[len(args):])}.")
        self.check_types(name, options)
        return self.get(name)(*args, **options)

    def check_types(self, name: str, options: dict[str, Any]) -> None:
        """Refuse an option whose value is not of its default's type (``inner_steps=abc``), with a
        sentence naming the option, the value and what it takes."""
        params = inspect.signature(self.get(name)).parameters
        for key, value in options.items():
            default = params[key].default
            if default is inspect.Parameter.empty or default is None:
                continue
            if isinstance(default, bool):
                ok, takes = isinstance(value, bool), "true or false"
            elif isinstance(default, int):
                ok, takes = isinstance(value, int) and not isinstance(value, bool), "a whole number"
            elif isinstance(default, float):
                ok, takes = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
            elif isinstance(default, str):
                ok, takes = isinstance(value, str), "a word"
            else:
                continue
            if not ok:
                raise ValueError(f"{self.kind} {name!r} option {key}={value!r} must be {takes} "
                                 f"(default {default!r}).")

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: str) -> bool:
        return name in self._factories
