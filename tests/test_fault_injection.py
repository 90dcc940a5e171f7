"""The fault-injection suite (benchmarks/faults): every bad input, malicious file, full or
read-only folder, damaged cache, random flag combination and signal ends in a checked result or
one clear sentence, never a traceback or a wrong result. The slow cases run with ``pytest -m slow``
(and all of them with ``python -m benchmarks.faults``, which writes benchmarks/results/reliability.md)."""

import sys

import pytest

from benchmarks.faults import all_cases, run_case
from benchmarks.faults.runner import Case, invoke

CASES = all_cases()


@pytest.mark.parametrize("case", [pytest.param(c, id=f"{c.group}: {c.name}",
                                               marks=[pytest.mark.slow] if c.slow else []) for c in CASES])
def test_fault_case(case, tmp_path):
    verdict = run_case(case, tmp_path)
    assert verdict.verdict in ("result", "clear error"), f"{verdict.verdict}: {verdict.detail}"


def test_the_suite_is_large_enough_and_mixes_kinds():
    groups = {c.group for c in CASES}
    assert len(CASES) >= 100 and {"images", "checkpoints", "cache", "outputs", "fuzz", "interruptions"} <= groups
    # the families at the edges (issue 39), each with at least one case in the default run
    edges = {"orientation", "special files", "names and formats", "model folder schema", "episodes files", "yaml",
             "csv rows", "cascade XML", "numbers", "divergence", "data loss", "properties"}
    assert edges <= {c.group for c in CASES if not c.slow}
    assert sum(not c.slow for c in CASES) >= 100  # the default test run alone has 100 cases


def test_the_judge_sees_a_hang(tmp_path):
    import time

    def stuck(tmp):
        time.sleep(30)
        return "result", "never reached"
    hang = run_case(Case("t", "sleeps", lambda t: [], run=stuck, timeout=1), tmp_path)
    assert hang.verdict == "hang" and hang.detail == "no end within 1 s"


def test_the_judge_sees_tracebacks_and_wrong_results(tmp_path, monkeypatch):
    from fewshot_fer.commands import evaluate

    def bug(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(evaluate, "resolve_device", bug)
    internal = run_case(Case("t", "bug", lambda t: ["evaluate", "--checkpoint", "x.pt"]), tmp_path / "a")
    assert internal.verdict == "traceback" and "internal error (RuntimeError: a bug)" in internal.detail
    monkeypatch.undo()
    accepted = run_case(Case("t", "accepted", lambda t: ["--version"], error="something"), tmp_path / "b")
    assert accepted.verdict == "wrong result" and "succeeded where an error was due" in accepted.detail
    marker = run_case(Case("t", "marker", lambda t: ((t / "M").touch(), ["--version"])[-1], marker="M"), tmp_path / "c")
    assert marker.verdict == "wrong result" and "marker file M appeared" in marker.detail
    vague = run_case(Case("t", "vague", lambda t: ["train", "--device", "tpu"], error="disk"), tmp_path / "d")
    assert vague.verdict == "wrong result" and "error does not say 'disk'" in vague.detail


def test_debug_shows_the_traceback_and_internal_errors_say_how_to_report(monkeypatch):
    plain = invoke(["train", "--device", "tpu"])
    assert plain.code == 2 and plain.stderr.strip() == \
        "error: --device 'tpu' is not a device; use auto, cpu, cuda, cuda:N or mps."
    debug = invoke(["train", "--device", "tpu", "--debug"])
    assert debug.code == 2 and "Traceback (most recent call last)" in debug.stderr
    assert debug.stderr.strip().endswith("error: --device 'tpu' is not a device; use auto, cpu, cuda, cuda:N or mps.")
    assert "--debug" not in sys.argv
    from fewshot_fer.training import episodic

    monkeypatch.setattr(episodic, "resolve_device", lambda name: [][1])
    bug = invoke(["train"])
    assert bug.code == 1 and bug.stderr.strip() == (
        "error: internal error (IndexError: list index out of range); this is a bug in fewshot-fer: run the command "
        "again with --debug and report the traceback.")
    assert "Traceback" not in bug.stderr and "Traceback" in invoke(["train", "--debug"]).stderr
