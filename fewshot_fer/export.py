"""``python -m fewshot_fer.export``: write a model and its support faces as one folder. The command lives in ``fewshot_fer.commands.export``;
this module keeps the ``python -m`` name the project was specified with."""

if __name__ == "__main__":
    from .commands.cli import run_cli
    from .commands.export import main

    run_cli(main)
