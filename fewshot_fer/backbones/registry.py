"""The backbone registry: ``@register_backbone("conv4")`` where a backbone is defined; the
registry holds the classes (or partial constructors), so their keyword arguments (the options of
``--backbone-option``, such as ``width``) are read from their signatures."""

from __future__ import annotations

from typing import Callable

from ..registry import Registry

BACKBONES: Registry = Registry("backbone")


def register_backbone(name: str) -> Callable[[Callable], Callable]:
    """Decorator: make a backbone class (``in_chans`` keyword, ``[B, C, H, W]`` -> features) available
    as ``--backbone NAME`` (also from a user's own module, once it is imported)."""
    return BACKBONES.register(name)
