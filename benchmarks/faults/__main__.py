"""``python -m benchmarks.faults``: run every fault-injection case and write the reliability table
(counts per group and verdict, then every case that is not a result or a clear error)."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Sequence

from fewshot_fer.commands.cli import HelpFormatter, add_debug_flag, run_cli
from fewshot_fer.training.rundir import git_commit

from . import VERDICTS, all_cases, run_case


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.faults", formatter_class=HelpFormatter,
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--output", default="benchmarks/results/reliability.md", help="markdown table to write")
    p.add_argument("--fast", action="store_true", help="only the cases of the default test run (not the slow ones)")
    p.add_argument("--only", default=None, help="only cases whose group or name contains this text")
    p.add_argument("--groups", default=None, help="only these groups, separated by commas (e.g. 'yaml,csv rows')")
    add_debug_flag(p)
    args = p.parse_args(argv)
    cases = [c for c in all_cases() if not (args.fast and c.slow)
             and (not args.only or args.only in c.group or args.only in c.name)
             and (not args.groups or c.group in args.groups.split(","))]
    if not cases:
        names = ", ".join(dict.fromkeys(c.group for c in all_cases()))
        raise ValueError(f"no fault case matches --only {args.only!r} and --groups {args.groups!r}; the groups are {names}.")
    work = Path(tempfile.mkdtemp(prefix="fewshot-fer-faults-"))
    verdicts, start = [], time.perf_counter()
    try:
        for k, case in enumerate(cases):
            verdict = run_case(case, work / f"case{k}")
            verdicts.append(verdict)
            print(f"[{k + 1}/{len(cases)}] {verdict.verdict:<12} {case.group}: {case.name}  -- {verdict.detail[:120]}",
                  flush=True)
            shutil.rmtree(work / f"case{k}", ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    minutes = (time.perf_counter() - start) / 60
    groups = list(dict.fromkeys(c.group for c in cases))
    counts = Counter((v.case.group, v.verdict) for v in verdicts)
    command = " ".join(["python -m benchmarks.faults", *(sys.argv[1:] if argv is None else argv)])
    lines = ["# Reliability: fault injection through the command line", "",
             f"Command: `{command}` (commit {git_commit()[:12]}, {len(cases)} cases, {minutes:.1f} min).", "",
             "Each case writes a faulty input in a real layout (or injects a fault: a full disk, a signal) and runs "
             "`fewshot-fer <command>` as the console script does. Verdicts: **result** (it worked and its output "
             "was checked), **clear error** (exit 2, one `error:` sentence that names the problem), **traceback** "
             "(a Python traceback or an internal error), **wrong result** (a bad input accepted, a wrong output, "
             "a marker file written by a malicious checkpoint, a changed dataset folder, an interrupted run that "
             "did not resume to identical weights).", "",
             "| group | cases | " + " | ".join(VERDICTS) + " |", "|---|---:|" + "---:|" * len(VERDICTS)]
    for group in [*groups, "all"]:
        row = [sum(counts[(g, v)] for g in (groups if group == "all" else [group])) for v in VERDICTS]
        name = f"**{group}**" if group == "all" else group
        lines.append(f"| {name} | {sum(row)} | " + " | ".join(map(str, row)) + " |")
    bad = [v for v in verdicts if v.verdict in ("traceback", "wrong result", "hang")]
    lines += ["", "## Cases that failed" if bad else "## Every case", ""]
    for v in (bad or verdicts):
        lines.append(f"- {v.verdict}: {v.case.group} / {v.case.name}: {v.detail}")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text("\n".join(lines) + "\n")
    print(f"{len(cases)} cases: " + ", ".join(f"{sum(counts[(g, v)] for g in groups)} {v}" for v in VERDICTS)
          + f"; table written to {args.output}")
    return 1 if bad else 0


if __name__ == "__main__":
    run_cli(main)
