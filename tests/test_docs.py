"""The documentation builds in MkDocs' strict mode, every Python example of its pages runs as
printed (each page in a fresh interpreter, so registrations do not leak into other tests), and
every command line shown in the README and the pages is accepted by its command's own parser."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md"))
TESTED_IN_PROCESS = {"python.md"}  # tests/test_readme.py runs these with assertions on their results


def blocks(path: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", path.read_text(), re.S)


def test_the_documentation_builds_in_strict_mode(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is in the test extra: pip install -e '.[test]'")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site"),
                           "--config-file", str(ROOT / "mkdocs.yml")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "site" / "extending" / "index.html").is_file()


@pytest.mark.parametrize("page", [p.name for p in PAGES if blocks(p, "python") and p.name not in TESTED_IN_PROCESS])
def test_python_examples_run_as_printed(page, tmp_path):
    code = "\n\n".join(blocks(ROOT / "docs" / page, "python"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, f"docs/{page}:\n{done.stderr[-3000:]}"


def command_lines(path: Path) -> list[list[str]]:
    """The ``fewshot-fer X ...`` and ``python -m fewshot_fer.X ...`` lines of a page's shell blocks
    (continuation lines joined, comments dropped) and of its inline code."""
    text = path.read_text()
    inline = [" ".join(span.split()) for span in re.findall(r"`((?:python -m fewshot_fer\.|fewshot-fer )[^`]+)`", text)]
    lines = []
    for block in [*blocks(path, "bash"), *inline]:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if not line or line.startswith("#"):
                continue
            words = shlex.split(line)
            for i, word in enumerate(words):
                if word == "fewshot-fer" and i + 1 < len(words):
                    lines.append([words[i + 1], *words[i + 2:]])
                elif word == "-m" and i + 1 < len(words) and words[i + 1].startswith("fewshot_fer."):
                    lines.append([words[i + 1].split(".", 1)[1], *words[i + 2:]])
    commands = {"train", "pretrain", "selftrain", "evaluate", "predict", "export", "ensemble"}
    lines = [[word for word in line if word not in ("...", "[...]")] for line in lines]
    # a bare command name (a table of commands) or a --help line shows no settings to check
    return [line for line in lines if line[0] in commands and len(line) > 1 and "--help" not in line]


def test_every_command_line_shown_is_accepted_by_its_parser():
    import importlib

    from fewshot_fer.commands.cli import parse_recipe

    shown = [(page.name, line) for page in [ROOT / "README.md", *PAGES] for line in command_lines(page)]
    assert len(shown) > 20
    failures = []
    for page, (command, *argv) in shown:
        if "--config" in argv:  # the pages name example files: the flags around it are what is checked
            at = argv.index("--config")
            argv = argv[:at] + argv[at + 2:]
        module = importlib.import_module(f"fewshot_fer.commands.{command}")
        parser = module.build_parser()
        for action in parser._actions:  # prose names a flag or two of a longer command: check those
            action.required = False
        parser.error = lambda message: (_ for _ in ()).throw(ValueError(message))
        try:
            if hasattr(module, "RECIPE"):
                parse_recipe(module.RECIPE, parser, argv)
            else:
                parser.parse_args(argv)
        except (ValueError, SystemExit) as err:
            failures.append(f"{page}: {command} {' '.join(argv)}: {err}")
    assert failures == []


def test_every_benchmark_command_and_config_shown_exists():
    """``python -m benchmarks.NAME`` lines and ``benchmarks/configs|protocols/*.yaml`` paths in the README
    and the pages name modules and files of this checkout (a renamed or merged command shows here)."""
    import importlib.util

    missing = []
    for page in [ROOT / "README.md", *PAGES]:
        text = " ".join(page.read_text().split())
        for module in re.findall(r"python -m (benchmarks\.[a-z_]+)", text):
            if importlib.util.find_spec(module) is None:
                missing.append(f"{page.name}: {module}")
        for path in re.findall(r"benchmarks/(?:configs|protocols)/[\w.-]+\.yaml", text):
            if not (ROOT / path).is_file():
                missing.append(f"{page.name}: {path}")
    assert missing == []
