"""``python -m fewshot_fer.ensemble``: soft voting over classifiers trained by selftrain. The command lives in ``fewshot_fer.commands.ensemble``;
this module keeps the ``python -m`` name the project was specified with."""

if __name__ == "__main__":
    from .commands.cli import run_cli
    from .commands.ensemble import main

    run_cli(main)
