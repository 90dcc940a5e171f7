"""``python -m fewshot_fer.predict``: recognise expressions in photos and clips. The command lives in ``fewshot_fer.commands.predict``;
this module keeps the ``python -m`` name the project was specified with."""

if __name__ == "__main__":
    from .commands.cli import run_cli
    from .commands.predict import main

    run_cli(main)
