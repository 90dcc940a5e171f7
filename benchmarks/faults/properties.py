"""Property-based fault cases (hypothesis): generated ``config.json`` files, episodes files, YAML
settings and ``fer2013.csv`` rows, each fed to the boundary that reads it. Every generated input
must end in a result or one short error sentence (a ``ValueError`` or ``OSError``, or argparse's
exit 2); anything else (another exception, a message over several lines or of more than 400
characters) is a traceback. Derandomized: the same inputs on every run.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path
from typing import Any, Callable

from .boundaries import exported
from .runner import Case

EXAMPLES = 60


def json_values():
    from hypothesis import strategies as st

    scalars = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True) | st.text(max_size=12)
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) |
                        st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def outcome(call: Callable[[], Any]) -> str | None:
    """``None`` when ``call`` returns or fails with one short sentence, else what went wrong."""
    try:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
            try:
                call()
            except SystemExit as stop:
                lines = err.getvalue().strip().splitlines()
                if stop.code == 2 and lines and len(lines[-1]) <= 400:
                    return None
                return f"exit {stop.code}: {lines[-1:]}"
    except (ValueError, OSError) as error:
        text = str(error)
        return None if "\n" not in text and len(text) <= 400 else f"a long or multi-line sentence: {text[:120]!r}"
    except Exception as error:  # noqa: BLE001 - what the property is about
        return f"{type(error).__name__}: {str(error)[:120]}"
    return None


def prop_case(name: str, strategy: Callable[[], Any], checker: Callable[[Path], Callable[[Any], str | None]]) -> Case:
    """A case that feeds ``EXAMPLES`` inputs drawn from ``strategy()`` to ``checker(work_folder)``."""
    def run(tmp: Path) -> tuple[str, str]:
        from hypothesis import HealthCheck, given, settings

        check = checker(tmp)
        failures: list[str] = []

        @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(strategy())
        def each(value: Any) -> None:
            problem = check(value)
            if problem:
                failures.append(f"{problem} for {str(value)[:80]}")
        each()
        if failures:
            return "traceback", f"{len(failures)} of {EXAMPLES} generated inputs: {failures[0]}"
        return "result", f"{EXAMPLES} generated inputs, each a result or one sentence"
    return Case("properties", name, lambda t: [], run=run, timeout=300)


def config_json_case() -> Case:
    from hypothesis import strategies as st

    from fewshot_fer.models.exported import load_exported

    def strategy():
        keys = st.sampled_from(["format", "model", "model.learner", "model.backbone", "model.in_chans",
                                "model.image_size", "model.mean", "model.std", "model.learner_kwargs",
                                "model.learner_kwargs.transductive_steps", "model.backbone_kwargs", "class_names",
                                "unknown_threshold", "preprocessing", "preprocessing.face_detector",
                                "preprocessing.align"])
        return st.lists(st.tuples(keys, json_values()), min_size=1, max_size=3)

    def checker(work: Path) -> Callable[[Any], str | None]:
        model = exported(work)
        config = (model / "config.json").read_text()

        def check(edits) -> str | None:
            info = json.loads(config)
            for path, value in edits:
                *parents, last = path.split(".")
                node = info
                for part in parents:
                    node = node.get(part) if isinstance(node, dict) else None
                if isinstance(node, dict):
                    node[last] = value
            (model / "config.json").write_text(json.dumps(info))
            return outcome(lambda: load_exported(model))
        return check
    return prop_case("generated config.json files", strategy, checker)


def episodes_case() -> Case:
    from hypothesis import strategies as st

    from episodes import FixedEpisodes

    def strategy():
        base = st.fixed_dictionaries({"format": st.just("fewshot-episodes/1") | json_values(),
                                      "n_way": st.integers(-2, 4) | json_values(), "k_shot": st.integers(-1, 3),
                                      "n_query": st.integers(-1, 3) | json_values(),
                                      "episodes": st.lists(st.lists(st.text(max_size=3) | json_values(), max_size=9),
                                                           max_size=3) | json_values(),
                                      "meta": json_values()})
        return base

    def checker(work: Path) -> Callable[[Any], str | None]:
        def check(doc) -> str | None:
            path = work / "episodes.json"
            path.write_text(json.dumps(doc))

            def load() -> None:
                fixed = FixedEpisodes.load(path)
                fixed.indices([str(k) for k in range(6)])
            return outcome(load)
        return check
    return prop_case("generated episodes files", strategy, checker)


def yaml_case() -> Case:
    from hypothesis import strategies as st

    from fewshot_fer.commands import train
    from fewshot_fer.commands.cli import parse_recipe

    parser = train.build_parser()
    dests = sorted(a.dest for a in parser._actions if a.option_strings and a.dest not in ("help", "config"))

    def strategy():
        settings = st.dictionaries(st.sampled_from(dests) | st.text(max_size=6), json_values(), max_size=4)
        return st.one_of(settings.map(lambda d: ("yaml", d)), st.text(max_size=60).map(lambda t: ("text", t)))

    def checker(work: Path) -> Callable[[Any], str | None]:
        def check(item) -> str | None:
            import yaml

            kind, value = item
            path = work / "c.yaml"
            path.write_text(yaml.safe_dump(value) if kind == "yaml" else value, encoding="utf-8",
                            errors="surrogateescape")
            return outcome(lambda: parse_recipe(train.RECIPE, train.build_parser(), ["--config", str(path)]))
        return check
    return prop_case("generated YAML settings", strategy, checker)


def csv_row_case() -> Case:
    from hypothesis import strategies as st

    from fewshot_fer.data.fer2013_csv import parse_fer2013_csv

    good = " ".join(["7"] * 2304)

    def strategy():
        pixels = st.one_of(st.just(good), st.text(max_size=30),
                           st.lists(st.integers(-5, 400), min_size=2300, max_size=2306).map(lambda v: " ".join(map(str, v))))
        row = st.tuples(st.sampled_from(["0", "3", "6", "7", "-1", "x", ""]) | st.text(max_size=3), pixels,
                        st.sampled_from(["PrivateTest", "Training", ""]))
        return st.lists(row, min_size=1, max_size=3)

    def checker(work: Path) -> Callable[[Any], str | None]:
        def check(rows) -> str | None:
            from fewshot_fer.data.ferplus import VOTE_COLUMNS, read_votes

            path, votes = work / "fer2013.csv", work / "fer2013new.csv"
            with open(path, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
                writer = csv.writer(f)
                writer.writerow(["emotion", "pixels", "Usage"])
                writer.writerow(["3", good, "PrivateTest"])
                writer.writerows(rows)
            with open(votes, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:  # FER+'s layout
                writer = csv.writer(f)
                writer.writerow(["Usage", "Image name", *VOTE_COLUMNS])
                writer.writerows([r[2], "fer0000001.png", *r[1].split()[:10]] for r in rows)
            return outcome(lambda: parse_fer2013_csv(path, "test", 24, 1)) or \
                outcome(lambda: read_votes(votes, "test"))
        return check
    return prop_case("generated fer2013.csv and FER+ rows", strategy, checker)


def property_cases() -> list[Case]:
    try:
        import hypothesis  # noqa: F401  (in the test extra)
    except ImportError:
        return []
    return [config_json_case(), episodes_case(), yaml_case(), csv_row_case()]
