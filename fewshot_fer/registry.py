"""A small name -> factory registry, shared by datasets, backbones and learners."""

from __future__ import annotations

from typing import Callable, Generic, TypeVar

T = TypeVar("T", bound=Callable)


class Registry(Generic[T]):
    """Maps names to factories; ``get`` names the alternatives when a name is unknown."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._factories: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(factory: T) -> T:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is registered twice.")
            self._factories[name] = factory
            return factory
        return decorator

    def get(self, name: str) -> T:
        try:
            return self._factories[name]
        except KeyError:
            raise ValueError(f"unknown {self.kind} {name!r}; choose one of: "
                             f"{', '.join(self.names())}.") from None

    def names(self) -> list[str]:
        return sorted(self._factories)

    def __contains__(self, name: str) -> bool:
        return name in self._factories
