"""Benchmarks of fewshot-fer: run from the repository root as ``python -m benchmarks.<name>``."""
