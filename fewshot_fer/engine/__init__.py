"""Training and evaluation machinery behind the command-line entry points."""
