"""``python -m fewshot_fer.data check|cache``: the same as ``fewshot-fer data`` (the command lives
with the other commands, in ``fewshot_fer.datacheck``; the data package never imports it)."""

if __name__ == "__main__":
    from ..datacheck import main
    from ..cli import run_cli

    run_cli(main)
