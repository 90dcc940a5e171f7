"""``python -m fewshot_fer.evaluate``: score a checkpoint on fixed episodes. The command lives in ``fewshot_fer.commands.evaluate``;
this module keeps the ``python -m`` name the project was specified with."""

if __name__ == "__main__":
    from .commands.cli import run_cli
    from .commands.evaluate import main

    run_cli(main)
