"""``python -m fewshot_fer.demo``: the same as ``fewshot-fer demo`` (the command lives with the
other commands, in ``fewshot_fer.commands.demo``; the demo package never imports it)."""

if __name__ == "__main__":
    from ..commands.cli import run_cli
    from ..commands.demo import main

    run_cli(main)
