"""``python -m fewshot_fer.train``: train a few-shot learner on episodes. The command lives in ``fewshot_fer.commands.train``;
this module keeps the ``python -m`` name the project was specified with."""

if __name__ == "__main__":
    from .commands.cli import run_cli
    from .commands.train import main

    run_cli(main)
