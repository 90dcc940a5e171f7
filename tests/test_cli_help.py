"""Every command's --help works and explains every flag it lists."""

import argparse
import importlib

import pytest

COMMANDS = [
    ("fewshot_fer.commands.train", ["--help"]),
    ("fewshot_fer.commands.pretrain", ["--help"]),
    ("fewshot_fer.commands.evaluate", ["--help"]),
    ("fewshot_fer.commands.predict", ["--help"]),
    ("fewshot_fer.commands.selftrain", ["--help"]),
    ("fewshot_fer.commands.ensemble", ["--help"]),
    ("fewshot_fer.commands.export", ["--help"]),
    ("fewshot_fer.commands.demo", ["--help"]),
    ("fewshot_fer.commands.data", ["check", "--help"]),
    ("fewshot_fer.commands.data", ["cache", "--help"]),
    ("benchmarks.run", ["--help"]),
]


@pytest.mark.parametrize("module,argv", COMMANDS, ids=[" ".join([m, *a[:-1]]) for m, a in COMMANDS])
def test_help_documents_every_flag(module, argv, monkeypatch, capsys):
    shown = []
    print_help = argparse.ArgumentParser.print_help

    def record(self, file=None):
        shown.append(self)
        print_help(self, file)

    monkeypatch.setattr(argparse.ArgumentParser, "print_help", record)
    with pytest.raises(SystemExit) as done:
        importlib.import_module(module).main(argv)
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: python -m ")
    (parser,) = shown
    undocumented = [a.option_strings[0] for a in parser._actions
                    if a.option_strings and a.dest != "help" and not (a.help or "").strip()]
    assert undocumented == []
    # A switch that takes no value must not read "(default: True)".
    assert "(default: True)" not in out and "(default: False)" not in out


def test_one_front_door_runs_every_command(capsys):
    from fewshot_fer.__main__ import COMMANDS, main

    assert main([]) == 0
    listing = capsys.readouterr().out
    assert all(f"  {name} " in listing for name in ("pretrain", "train", "evaluate", "predict", "selftrain",
                                                    "ensemble", "export", "demo", "data"))
    for name, (module, _) in COMMANDS.items():
        with pytest.raises(SystemExit) as done:
            main([name, *(["check"] if name == "data" else []), "--help"])
        assert done.value.code == 0, name
        # each usage line names the command as a user types it (python -m fewshot_fer.NAME)
        shown = f"fewshot_fer.{name}"
        assert capsys.readouterr().out.startswith(f"usage: python -m {shown}"), name
    assert main(["trian"]) == 2
    assert "error: unknown command 'trian'; choose one of pretrain, train" in capsys.readouterr().err


def test_the_installed_console_script(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("fewshot-fer")
    assert script.is_file(), f"{script} missing: install the package (pip install -e '.[test]') to get the script"
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "Commands (each has --help)" in out.stdout
    bad = subprocess.run([str(script), "evaluate", "--checkpoint", str(tmp_path / "none.pt")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "none.pt" in bad.stderr


def test_command_modules_have_no_function_over_60_lines():
    """Commands stay thin layers: their steps live in named helpers, not in one long main."""
    import ast
    from pathlib import Path

    import fewshot_fer

    root = Path(fewshot_fer.__file__).parent
    long = []
    for name in ("commands/train", "commands/evaluate", "commands/predict", "commands/pretrain", "commands/selftrain",
                 "commands/ensemble", "commands/export", "commands/demo", "commands/data", "__main__", "api"):
        tree = ast.parse((root / f"{name}.py").read_text())
        long += [f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines" for node in ast.walk(tree)
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60]
    assert not long, long


def test_a_closed_pipe_ends_a_command_quietly():
    """``fewshot-fer ... | head -1``: the reader going away mid-output is not an error message."""
    import subprocess
    import sys

    code = ("from fewshot_fer.commands.cli import run_cli\n"
            "def main():\n    for i in range(200_000):\n        print('line', i)\n"
            "run_cli(main)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout.readline() == b"line 0\n"
    proc.stdout.close()  # as head does after its line; far more output is still to come
    assert proc.wait(timeout=120) == 141
    assert proc.stderr.read() == b""
