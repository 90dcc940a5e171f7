"""Running one fault case through the real command line and judging what came out.

A case runs ``fewshot-fer <command> ...`` in this process exactly as the console script does
(``cli.run_cli``: user errors are one sentence and exit 2, bugs are "internal error" and exit 1),
with stdout and stderr captured. Its verdict is one of:

- ``result``: it succeeded and the case's check of the output passed;
- ``clear error``: it stopped with exit 2 and one ``error:`` sentence matching what the case expects;
- ``traceback``: a Python traceback or an "internal error" line (a bug, whatever the input);
- ``wrong result``: success where an error was due, a failed output check, an unexpected error,
  a marker file that malicious input must never create, or a changed dataset folder;
- ``hang``: the case did not end within its time limit (``Case.timeout``; a ``SIGALRM`` stops
  it, even inside a blocking ``open`` of a named pipe).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence
from unittest import mock

VERDICTS = ("result", "clear error", "traceback", "wrong result", "hang")
DEFAULT_TIMEOUT = 120  # seconds; the slowest case (a resumed interrupted run) takes about 20


class Hang(BaseException):
    """Raised by the alarm inside a case that ran past its time limit (a ``BaseException``, so the
    code under test cannot swallow it in an ``except Exception``)."""


@contextlib.contextmanager
def time_limit(seconds: int):
    """Raise ``Hang`` in this thread after ``seconds`` (a no-op where ``SIGALRM`` does not exist or
    off the main thread)."""
    import signal
    import threading

    if not hasattr(signal, "SIGALRM") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(signum, frame):
        raise Hang(f"no end within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


@dataclass
class Case:
    """``make(tmp)`` writes the faulty input under ``tmp`` and returns the command line (without
    ``fewshot-fer``). ``error``: a regular expression the error sentence must match, or ``None`` when
    the command must succeed and ``check(tmp, outcome)`` returns ``None`` (or what is wrong)."""

    group: str
    name: str
    make: Callable[[Path], list[str]]
    error: str | None = None
    check: Callable[[Path, Outcome], str | None] | None = None
    either: bool = False  # fuzzing: a result or a clear error are both fine
    watch: str | None = None  # folder (relative to tmp) that must be unchanged: a dataset
    marker: str | None = None  # file (relative to tmp) that must never appear
    slow: bool = False
    codes: tuple[int, ...] = (0,)  # exit codes of success (``data check``: 1 reports an unusable split)
    patch: tuple[str, Callable] | None = None  # (target, replacement) while the command runs: a full disk
    run: Callable[[Path], tuple[str, str]] | None = None  # a case that runs itself: (verdict, detail)
    timeout: int = DEFAULT_TIMEOUT  # seconds before the case is a hang


@dataclass
class Verdict:
    case: Case
    verdict: str
    detail: str
    outcome: Outcome | None = field(default=None, repr=False)


def invoke(argv: Sequence[str]) -> Outcome:
    """``fewshot-fer ARGV`` in this process, as the console script runs it."""
    from fewshot_fer.__main__ import main
    from fewshot_fer.commands.cli import run_cli

    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv
    sys.argv = ["fewshot-fer", *argv]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = lambda m, c, f, l, file=None, line=None: print(f"warning: {m}", file=sys.stderr)
            try:
                run_cli(main)
            except SystemExit as stop:
                code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    finally:
        sys.argv = saved
    return Outcome(code, out.getvalue(), err.getvalue())


def snapshot(folder: Path) -> str:
    """One hash of every file's path, size and content under ``folder``."""
    digest = hashlib.sha1()
    for path in sorted(p for p in folder.rglob("*")):
        digest.update(str(path.relative_to(folder)).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def error_sentence(stderr: str) -> str | None:
    """The ``error: ...`` line of a clear error (ours or argparse's ``prog: error: ...``)."""
    lines = [line for line in stderr.splitlines() if re.match(r"^(error: |\S+( \S+)*: error: )", line)]
    return lines[-1] if lines else None


def run_case(case: Case, tmp: Path) -> Verdict:
    """Run ``case`` in the folder ``tmp`` under its time limit and judge it."""
    try:
        with time_limit(case.timeout):
            return judge_case(case, tmp)
    except Hang as why:
        return Verdict(case, "hang", str(why))


def judge_case(case: Case, tmp: Path) -> Verdict:
    tmp.mkdir(parents=True, exist_ok=True)
    if case.run is not None:
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            verdict, detail = case.run(tmp)
        return Verdict(case, verdict, detail)
    with contextlib.redirect_stdout(io.StringIO()):  # a fixture's own training run
        argv = case.make(tmp)
    before = snapshot(tmp / case.watch) if case.watch else None
    with (mock.patch(case.patch[0], case.patch[1]) if case.patch else contextlib.nullcontext()):
        outcome = invoke(argv)
    if "Traceback (most recent call last)" in outcome.stderr or "internal error" in outcome.stderr:
        last = (outcome.stderr.strip().splitlines() or ["(no output)"])[-1]
        return Verdict(case, "traceback", last, outcome)
    if case.marker and (tmp / case.marker).exists():
        return Verdict(case, "wrong result", f"the marker file {case.marker} appeared: code from the input ran", outcome)
    if before is not None and snapshot(tmp / case.watch) != before:
        return Verdict(case, "wrong result", f"the dataset folder {case.watch} was changed", outcome)
    sentence = error_sentence(outcome.stderr)
    if outcome.code in case.codes:
        if case.error is not None and not case.either:
            return Verdict(case, "wrong result", f"succeeded where an error was due ({case.error})", outcome)
        problem = case.check(tmp, outcome) if case.check else None
        if problem:
            return Verdict(case, "wrong result", problem, outcome)
        return Verdict(case, "result", (outcome.stdout.strip().splitlines() or [""])[-1][:160], outcome)
    if outcome.code == 2 and sentence:
        after = outcome.stderr.split(sentence, 1)[1].strip()
        if after:  # a message that runs on over several lines (a pasted exception) is not one sentence
            return Verdict(case, "wrong result", f"the error runs over several lines: {sentence} / {after[:80]}", outcome)
        if case.error is None and not case.either:
            return Verdict(case, "wrong result", f"failed where a result was due: {sentence}", outcome)
        if case.error and not re.search(case.error, sentence):
            return Verdict(case, "wrong result", f"error does not say {case.error!r}: {sentence}", outcome)
        problem = case.check(tmp, outcome) if case.check and not case.either else None
        if problem:
            return Verdict(case, "wrong result", problem, outcome)
        return Verdict(case, "clear error", sentence[:200], outcome)
    last = (outcome.stderr.strip().splitlines() or ["(no output)"])[-1]
    return Verdict(case, "wrong result", f"exit {outcome.code} without a clear error sentence: {last}", outcome)
