"""``python -m fewshot_fer.data check|cache``: the same as ``fewshot-fer data`` (the command lives
with the other commands, in ``fewshot_fer.commands.data``; the data package never imports it)."""

if __name__ == "__main__":
    from ..commands.cli import run_cli
    from ..commands.data import main

    run_cli(main)
