"""Shared command-line plumbing: argparse with an optional YAML config whose keys are the flags."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import traceback
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

from ..errors import MissingExtra, excerpt
from ..yamlio import read_yaml

MAX_VALUE_CHARS = 1000  # one setting's value in a config file

if TYPE_CHECKING:  # for the annotations only
    from ..training.recipes.base import R, Recipe


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` only where there is a default worth showing: not None or False, and
    not on switches that take no value (``--no-augment`` would read "default: True")."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False, argparse.SUPPRESS) or action.nargs == 0:
            return action.help or ""
        return super()._get_help_string(action)


def parse_with_config(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse ``argv``; values from ``--config FILE`` replace defaults, explicit flags win.

    Config keys are flag names, with dashes or underscores (``val-way`` or ``val_way``); a run's
    own ``args.yaml`` is a valid config (its recorded, non-flag keys are skipped).
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    known, _ = pre.parse_known_args(argv)
    if known.config:
        path = Path(known.config)
        try:  # malformed, a tag such as !!python/object, an alias, too large: one sentence each
            values = read_yaml(path, "config file")
        except (ValueError, OSError) as err:
            parser.error(str(err))
        from ..training.recipes.base import RECORDED_KEYS  # here: the recipes import torch, the command line does not

        dests = {a.dest for a in parser._actions}
        settings = {}
        for key, value in values.items():
            dest = str(key).replace("-", "_")
            if dest in RECORDED_KEYS and dest not in dests:
                continue
            if dest not in dests or dest in ("help", "config"):
                parser.error(f"config file {path} has unknown key {excerpt(key)}; keys are the flag names "
                             f"without the leading dashes (see --help).")
            settings[dest] = value
        # as tokens before the typed ones: argparse checks types and choices the same way, and a
        # flag typed on the command line comes later, so it wins
        argv = [*config_tokens(parser, f"config file {path}", settings), *argv]
    return parser.parse_args(argv)


def config_tokens(parser: argparse.ArgumentParser, where: str, settings: dict[str, Any]) -> list[str]:
    """Config ``settings`` (destination -> value) as command-line tokens; ``null`` keeps the default.
    ``where`` names the settings' source in errors (``config file X.yaml``)."""
    tokens: list[str] = []
    for dest, value in settings.items():
        actions = [a for a in parser._actions if a.dest == dest and a.option_strings]
        if value is None:
            continue
        switches = [a for a in actions if a.nargs == 0]  # store_true / store_false
        if switches:
            if not isinstance(value, bool):
                parser.error(f"{where}: {dest} must be true or false, got {excerpt(value)}.")
            chosen = [a for a in switches if a.const is value]
            if value != switches[0].default and chosen:
                tokens.append(chosen[0].option_strings[-1])
            continue
        action = actions[0]
        flag = action.option_strings[-1]
        many = action.nargs in ("+", "*") or isinstance(action, argparse._AppendAction)
        if isinstance(value, (list, dict)) and not (many and isinstance(value, list)):
            parser.error(f"{where}: {dest} takes one value, got {excerpt(value)}.")
        items = [str(v) for v in (value if isinstance(value, list) else [value])]
        if any(len(item) > MAX_VALUE_CHARS for item in items):
            parser.error(f"{where}: {dest} is a value of more than {MAX_VALUE_CHARS:,} characters "
                         f"({excerpt(value)}); a setting is a short value.")
        if isinstance(action, argparse._AppendAction):
            tokens += [f"{flag}={item}" for item in items]
        elif many:
            tokens += [flag, *items]
        else:
            tokens.append(f"{flag}={items[0]}")
    return tokens


def recipe_parser(recipe: type["Recipe"], prog: str, description: str, epilog: str = "") -> argparse.ArgumentParser:
    """The command line of a recipe, generated from its fields: one group per settings group, a
    flag per setting (``--name``, a switch for a true/false one, repeatable for a list), the
    field's help with its default and choices, the data group's reading options from the dataset
    catalogue, ``--config`` and ``--debug``. Values are read as text and checked by the recipe
    (``parse_recipe``), so a flag, a YAML key and a keyword get the same sentence."""
    from ..training.recipes.base import group_fields
    from ..training.recipes.fields import base_type, flag_of
    from ..training.recipes.groups import reading_options

    p = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog or None,
                                formatter_class=argparse.RawDescriptionHelpFormatter if "\n" in description
                                else argparse.HelpFormatter, argument_default=argparse.SUPPRESS)
    p.add_argument("--config", help="YAML file of settings (keys are the flag names, or groups of them: "
                                    "{optim: {lr: 0.0005}}); flags on the command line override it")
    for name, kind in recipe.groups().items():
        group = p.add_argument_group(kind.title or name)
        hints = typing.get_type_hints(kind)
        for field in group_fields(kind):
            add_setting(group, field, base_type(hints[field.name])[0], flag_of(field))
        if hasattr(kind, "extra_keys"):
            for option in reading_options():
                add_reading_option(group, option)
    add_debug_flag(p)
    return p


def add_setting(group: argparse._ArgumentGroup, field: Any, kind: Any, flag: str) -> None:
    """One setting's flag: a switch for a bool, repeatable for a list, else one text value."""
    default, meta = field.default, field.metadata
    text = meta["help"]
    if kind is bool:
        group.add_argument(flag, dest=field.name, action="store_false" if default else "store_true", help=text)
        return
    choices = meta.get("choices")
    metavar = meta.get("metavar") or ("{" + ",".join(map(str, choices)) + "}" if choices else None)
    if default is not None and default is not dataclasses.MISSING:
        text += f" (default: {default})"
    many = typing.get_origin(kind) is list
    group.add_argument(flag, dest=field.name, metavar=metavar, help=text, action="append" if many else "store")


def add_reading_option(group: argparse._ArgumentGroup, option: Any) -> None:
    """A dataset reading option's flag, with the datasets that take it (from the catalogue)."""
    from ..data.catalog import COMMON_OPTIONS, default_text, takers

    names = takers(option.name) if option not in COMMON_OPTIONS else []
    text = f"{', '.join(names)}: {option.help}" if names else option.help
    if option.kind is bool:
        group.add_argument(option.flag, dest=option.name, action="store_true", help=text)
        return
    if option.default is None and names and default_text(option):
        text += f" (default: {default_text(option)})"
    elif option.default is not None:
        text += f" (default: {option.default})"
    group.add_argument(option.flag, dest=option.name, help=text)


def parse_recipe(recipe: type["R"], parser: argparse.ArgumentParser, argv: Sequence[str] | None
                 ) -> tuple["R", frozenset[str]]:
    """The recipe of a command line (``--config FILE`` first, typed flags winning) and the
    settings that were typed (``--resume`` lets only some of them change)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    typed = dict(vars(parser.parse_args(argv)))
    config = typed.pop("config", None)
    typed.pop("debug", None)
    sources = []
    if config is not None:
        sources.append((f"config file {config}", read_yaml(Path(config), "config file")))
    sources.append(("command line", typed))
    return recipe.build(*sources), frozenset(typed)


def explicit_flags(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> set[str]:
    """Destinations of the flags actually typed on the command line (not defaults)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    shadow = argparse.ArgumentParser(add_help=False)
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            kwargs = {"dest": action.dest, "default": argparse.SUPPRESS}
            if action.nargs == 0:
                kwargs["action"] = "store_const"
                kwargs["const"] = True
            else:
                kwargs["nargs"] = action.nargs
            shadow.add_argument(*action.option_strings, **kwargs)
    known, _ = shadow.parse_known_args(argv)
    return set(vars(known))


DEBUG_HELP = "on an error, show the full Python traceback (for a bug report) instead of one sentence"


def command_parser(name: str, doc: str | None, example: str | None = None) -> argparse.ArgumentParser:
    """The parser of command ``name`` as ``python -m fewshot_fer.NAME`` runs it: the first paragraph
    of the command module's docstring ``doc`` describes it, ``example`` (a command line) ends its help."""
    return argparse.ArgumentParser(prog=f"python -m fewshot_fer.{name}", formatter_class=HelpFormatter,
                                   description=(doc or "").split("\n\n")[0],
                                   epilog=f"Example: {example}" if example else None)


def add_debug_flag(p: argparse.ArgumentParser) -> None:
    """``--debug``, read by ``run_cli`` before parsing (so it works even when parsing fails);
    never stored in the parsed settings, so a run's args.yaml does not record it."""
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)


def os_error_sentence(err: OSError) -> str:
    """``[Errno 13] Permission denied: 'x'`` -> ``cannot use x: permission denied.``"""
    if err.filename is None or not err.strerror:
        return str(err)
    where = f"{err.filename}" + (f" -> {err.filename2}" if err.filename2 else "")
    return f"cannot use {where}: {err.strerror[0].lower() + err.strerror[1:]}."


def run_cli(main: Callable[[], int | None]) -> None:
    """Run ``main``; user errors (bad settings, missing or unreadable files, a full or read-only
    disk, a missing optional dependency) print one sentence and exit 2. Anything else is a bug:
    one line that says so and exit 1. ``--debug`` anywhere on the command line shows the traceback."""
    from ..training.memory import keep_freed_memory

    debug = "--debug" in sys.argv[1:]
    if debug:
        sys.argv = [a for a in sys.argv if a != "--debug"]
    keep_freed_memory()  # process-wide, so only for a command run from the shell (engine/memory.py)
    try:
        code = main()
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except BrokenPipeError:  # the reader went away (``... | head``): stop quietly, as Unix tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        sys.exit(141)
    except (ValueError, MissingExtra, OSError) as err:
        if debug:
            traceback.print_exc()
        message = os_error_sentence(err) if isinstance(err, OSError) and err.strerror else str(err)
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)
    except Exception as err:  # noqa: BLE001 - the last line of defence: no raw traceback for users
        if debug:
            traceback.print_exc()
        first = (str(err).strip().splitlines() or [""])[0]
        print(f"error: internal error ({type(err).__name__}: {first}); this is a bug in fewshot-fer: run the "
              f"command again with --debug and report the traceback.", file=sys.stderr)
        sys.exit(1)
    sys.exit(code or 0)
