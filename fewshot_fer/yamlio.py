"""The one boundary for YAML the toolkit reads (``--config`` files, a run's ``args.yaml`` on
``--resume``, benchmark configs): plain data only, bounded, and every failure one sentence.

- ``yaml.SafeLoader``: a tag such as ``!!python/object`` is refused, no code runs.
- Aliases (``*name``) are refused: an alias bomb of 300 bytes would expand to gigabytes, and
  settings never need them.
- Files above ``MAX_YAML_BYTES`` are refused before parsing; values quoted in error sentences are
  cut to a short excerpt.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MAX_YAML_BYTES = 1_000_000


class NoAliasLoader(yaml.SafeLoader):
    """``SafeLoader`` that refuses aliases (``*name``) where it meets them."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.YAMLError(f"an alias (*{self.peek_event().anchor}) at line {mark.line + 1}, column "
                                 f"{mark.column + 1}; settings files may not use aliases")
        return super().compose_node(parent, index)


def parse_yaml(text: str, where: str) -> Any:
    """``text`` parsed as plain YAML data, or a ``ValueError`` naming ``where`` and the problem."""
    try:
        return yaml.load(text, Loader=NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = " ".join(str(getattr(err, "problem", None) or err).split())  # one line: a reader error has two
        raise ValueError(f"{where} is not valid YAML{at}: {problem[:160]}.") from None
    except RecursionError:
        raise ValueError(f"{where} is nested too deeply to be a settings file.") from None


def read_yaml(path: str | Path, what: str = "YAML file", mapping: bool = True) -> Any:
    """The YAML file ``path`` as plain data (a mapping unless ``mapping`` is false; an empty file
    is ``{}``), or one sentence naming ``what`` and the file."""
    path = Path(path)
    where = f"{what} {path}"
    if not path.is_file():
        raise FileNotFoundError(f"{where} does not exist.")
    size = path.stat().st_size
    if size > MAX_YAML_BYTES:
        raise ValueError(f"{where} is {size:,} bytes, more than the {MAX_YAML_BYTES:,} a settings file can be.")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{where} is not UTF-8 text.") from None
    data = parse_yaml(text, where)
    if data is None:
        data = {}
    if mapping and not isinstance(data, dict):
        raise ValueError(f"{where} must hold a mapping of names to values, got {type(data).__name__}.")
    return data
