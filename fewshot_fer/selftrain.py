"""``python -m fewshot_fer.selftrain``: the self-training CNN baseline. The command lives in ``fewshot_fer.commands.selftrain``;
this module keeps the ``python -m`` name the project was specified with."""

if __name__ == "__main__":
    from .commands.cli import run_cli
    from .commands.selftrain import main

    run_cli(main)
