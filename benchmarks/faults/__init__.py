"""Fault injection: bad inputs, malicious files, full and read-only folders, damaged caches,
random flag values and signals, each run through the real command line (``runner``), judged
``result``, ``clear error``, ``traceback`` or ``wrong result``.

``python -m benchmarks.faults`` runs every case and writes ``benchmarks/results/reliability.md``;
``tests/test_fault_injection.py`` runs the same cases (the slow ones with ``pytest -m slow``).
"""

from __future__ import annotations

from .boundaries import (
    cascade_cases,
    csv_row_cases,
    episodes_cases,
    model_schema_cases,
    name_and_format_cases,
    orientation_cases,
    special_file_cases,
    yaml_cases,
)
from .cases import (
    cache_cases,
    checkpoint_cases,
    config_cases,
    disk_full_cases,
    flag_cases,
    image_cases,
    layout_cases,
    model_folder_cases,
    output_cases,
)
from .fuzz import fuzz_cases, interruption_cases
from .losses import data_loss_cases, divergence_cases, number_cases, stale_cache_case
from .properties import property_cases
from .runner import VERDICTS, Case, Verdict, run_case

FUZZ_SEED = 0
FAST_INTERRUPTIONS = (("episode", 6, "SIGKILL"),)  # the others run with the slow cases


def all_cases() -> list[Case]:
    """Every case, the slow ones marked (``Case.slow``)."""
    return [*image_cases(), *layout_cases(), *checkpoint_cases(fast=True), *model_folder_cases(), *config_cases(), *output_cases(),
            *disk_full_cases(), *cache_cases(), *flag_cases(), *fuzz_cases(60, FUZZ_SEED, slow_after=24),
            *interruption_cases(FAST_INTERRUPTIONS), *orientation_cases(), *special_file_cases(),
            *name_and_format_cases(), *model_schema_cases(), *episodes_cases(), *yaml_cases(), *csv_row_cases(),
            *cascade_cases(), *number_cases(), *divergence_cases(), *data_loss_cases(), stale_cache_case(),
            *property_cases()]


__all__ = ["Case", "VERDICTS", "Verdict", "all_cases", "run_case"]
