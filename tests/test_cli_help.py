"""Every command's --help works and explains every flag it lists."""

import argparse
import importlib

import pytest

COMMANDS = [
    ("fewshot_fer.train", ["--help"]),
    ("fewshot_fer.pretrain", ["--help"]),
    ("fewshot_fer.evaluate", ["--help"]),
    ("fewshot_fer.predict", ["--help"]),
    ("fewshot_fer.selftrain", ["--help"]),
    ("fewshot_fer.ensemble", ["--help"]),
    ("fewshot_fer.data.__main__", ["check", "--help"]),
    ("benchmarks.run", ["--help"]),
    ("benchmarks.semi_supervised", ["--help"]),
    ("benchmarks.speed", ["--help"]),
    ("benchmarks.duel", ["--help"]),
]


@pytest.mark.parametrize("module,argv", COMMANDS, ids=[m for m, _ in COMMANDS])
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
