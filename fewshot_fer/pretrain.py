"""``python -m fewshot_fer.pretrain``: supervised pre-training. The command lives in ``fewshot_fer.commands.pretrain``;
this module keeps the ``python -m`` name the project was specified with."""

if __name__ == "__main__":
    from .commands.cli import run_cli
    from .commands.pretrain import main

    run_cli(main)
