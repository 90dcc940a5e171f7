"""``python -m benchmarks.speed``: fewshot-fer against easyfsl, side by side, in one run.

Both toolkits train and evaluate a prototypical network with the same Conv-4 on the same FER2013
images (48x48 grey faces), with the same episode shape and the same number of threads. Every
measurement runs in its own child process (so peak memory is that job's alone) and the two
toolkits alternate, repeat after repeat, so that a busy machine slows both alike. Results are
ratios of medians; the tables go to ``benchmarks/results/speed.md`` and ``speed.csv``.

Needs easyfsl: ``pip install easyfsl``. Its TaskSampler fails on current torch; the benchmark
patches that one call (see ``speed_jobs.patched_sampler_init``), nothing else.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import torch

from fewshot_fer.commands.cli import HelpFormatter, add_debug_flag, run_cli
from fewshot_fer.training.rundir import write_csv

from .speed_jobs import run_job

TOOLKITS = ("fewshot-fer", "easyfsl")
RESULT_PREFIX = "RESULT "


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.speed", formatter_class=HelpFormatter,
                                description=__doc__.split("\n\n")[1])
    p.add_argument("--data-root", default="../shared/data/fer2013",
                   help="FER2013 folder layout (train/ and test/ of class folders)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="torch threads of every job")
    p.add_argument("--train-repeats", type=int, default=7,
                   help="alternating repeats of the headline training comparison (a pair takes ~30 s)")
    p.add_argument("--repeats", type=int, default=3,
                   help="alternating repeats of the headline evaluation comparison (easyfsl takes ~5 min each)")
    p.add_argument("--train-episodes", type=int, default=30, help="timed training episodes per job")
    p.add_argument("--eval-episodes", type=int, default=1000, help="episodes of the headline evaluation")
    p.add_argument("--shape", default="5,5,15", help="headline episode shape: way,shot,query")
    p.add_argument("--sizes", default="1000,10000,all",
                   help="training-set sizes of the scaling table ('all' = the 28,709 training faces)")
    p.add_argument("--shapes", default="5,1,15 5,5,15 5,10,15 7,5,15",
                   help="way,shot,query shapes of the episode-shape table (space separated)")
    p.add_argument("--shape-eval-episodes", type=int, default=200,
                   help="evaluation episodes per shape in the episode-shape table")
    p.add_argument("--easyfsl-workers", type=int, default=0,
                   help="DataLoader workers of easyfsl (0: decode in the main process, like fewshot-fer)")
    p.add_argument("--output", default="benchmarks/results/speed", help="writes OUTPUT.md and OUTPUT.csv")
    p.add_argument("--job", help=argparse.SUPPRESS)  # internal: run one measurement and print it
    add_debug_flag(p)
    return p


def parse_shape(text: str) -> tuple[int, int, int]:
    try:
        way, shot, query = (int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"an episode shape is way,shot,query such as 5,5,15; got {text!r}.") from None
    return way, shot, query


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """Run ``job`` in a fresh process and return its result."""
    env = {**os.environ, **{k: str(job["threads"]) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}}
    done = subprocess.run([sys.executable, "-m", "benchmarks.speed", "--job", json.dumps(job)],
                          capture_output=True, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"job {job} failed:\n{done.stderr[-2000:]}")
    result = json.loads(lines[-1][len(RESULT_PREFIX):])
    what = f"{result['toolkit']:<11} {result['task']:<8} {result['way']}-way {result['shot']}-shot"
    print(f"  {what} {result['images']:>6} images  {result['seconds']:8.2f} s "
          f"({1000 * result['seconds'] / result['episodes']:7.1f} ms/episode)  peak {result['peak_rss_mb']:.0f} MB",
          flush=True)
    return result


def headline(base: dict[str, Any], train_repeats: int, repeats: int, train_n: int,
             eval_n: int) -> list[dict[str, Any]]:
    rows = []
    for r in range(max(train_repeats, repeats)):
        order = TOOLKITS if r % 2 == 0 else TOOLKITS[::-1]  # alternate who goes first
        tasks = [(task, n) for task, n, k in (("train", train_n, train_repeats), ("evaluate", eval_n, repeats)) if r < k]
        for task, n in tasks:
            for toolkit in order:
                split = "train" if task == "train" else "test"
                rows.append({**measure({**base, "toolkit": toolkit, "task": task, "split": split,
                                        "episodes": n}), "table": "headline", "repeat": r})
    # once: easyfsl with fewshot-fer's allocator setting, to separate its share of the gain
    rows.append({**measure({**base, "toolkit": "easyfsl", "task": "train", "split": "train", "episodes": train_n,
                            "keep_freed_memory": True}), "table": "easyfsl-kept-memory", "repeat": 0})
    # once: fewshot-fer scoring every episode from images (decoded cache, no feature cache)
    rows.append({**measure({**base, "toolkit": "fewshot-fer", "task": "evaluate", "split": "test",
                            "episodes": eval_n, "feature_cache": False}), "table": "no-feature-cache", "repeat": 0})
    return rows


def median(rows: list[dict[str, Any]], key: str, **match: Any) -> float:
    values = [r[key] for r in rows if all(r[k] == v for k, v in match.items())]
    return statistics.median(values)


def render(rows: list[dict[str, Any]], settings: dict[str, Any], command: str) -> str:
    head = [r for r in rows if r["table"] == "headline"]
    way, shot, query = parse_shape(settings["shape"])
    eps = {t: settings["train_episodes"] / median(head, "seconds", toolkit=t, task="train") for t in TOOLKITS}
    spread = {task: repeat_ratios(head, task) for task in ("train", "evaluate")}
    ev = {t: median(head, "seconds", toolkit=t, task="evaluate") for t in TOOLKITS}
    mem = {(t, k): f"{median(head, 'peak_rss_mb', toolkit=t, task=k):.0f} "
                   f"({median(head, 'job_rss_mb', toolkit=t, task=k):+.0f})"
           for t in TOOLKITS for k in ("train", "evaluate")}
    nocache = median(rows, "seconds", table="no-feature-cache")
    kept = settings["train_episodes"] / median(rows, "seconds", table="easyfsl-kept-memory")
    setup = {(t, k): median(head, "setup_s", toolkit=t, task=k) for t in TOOLKITS for k in ("train", "evaluate")}
    out = [f"# Speed: fewshot-fer vs easyfsl ({way}-way {shot}-shot {query}-query, ProtoNet, Conv-4, 48x48 FER2013)",
           "", f"Command: `{command}`", "",
           f"Machine: {settings['machine']}; {settings['threads']} torch threads per job; easyfsl "
           f"{settings['easyfsl_version']} with {settings['easyfsl_workers']} DataLoader workers; torch "
           f"{settings['torch_version']}. Medians of {settings['train_repeats']} (training) and {settings['repeats']} "
           f"(evaluation) alternating repeats, each job in its own process; the last column gives the lowest and "
           f"highest ratio of single repeats (this shared virtual machine is noisy). Date: {settings['date']}.", "",
           "| | fewshot-fer | easyfsl | ratio | repeats |", "|---|---|---|---|---|",
           f"| training, episodes/s ({settings['train_episodes']} timed episodes, 28,709 images) | "
           f"{eps['fewshot-fer']:.2f} | {eps['easyfsl']:.2f} | **{eps['fewshot-fer'] / eps['easyfsl']:.2f}x** | "
           f"{spread['train']} |",
           f"| training, episodes/s, easyfsl also keeping freed memory (fewshot-fer's allocator setting) | "
           f"{eps['fewshot-fer']:.2f} | {kept:.2f} | {eps['fewshot-fer'] / kept:.2f}x | |",
           f"| evaluation, {settings['eval_episodes']} episodes on the 3,589 test faces, wall s | "
           f"{ev['fewshot-fer']:.1f} | {ev['easyfsl']:.1f} | **{ev['easyfsl'] / ev['fewshot-fer']:.1f}x** | "
           f"{spread['evaluate']} |",
           f"| evaluation without the feature cache (every episode embedded from decoded images), wall s | "
           f"{nocache:.1f} | {ev['easyfsl']:.1f} | {ev['easyfsl'] / nocache:.1f}x | |",
           f"| data set-up before training (cache load / file listing), s | {setup['fewshot-fer', 'train']:.2f} | "
           f"{setup['easyfsl', 'train']:.2f} | | |",
           f"| peak memory, training job, MB (above imports) | {mem['fewshot-fer', 'train']} | "
           f"{mem['easyfsl', 'train']} | | |",
           f"| peak memory, evaluation job, MB (above imports) | {mem['fewshot-fer', 'evaluate']} | "
           f"{mem['easyfsl', 'evaluate']} | | |", ""]
    out += ["Ratios are fewshot-fer's speed over easyfsl's (higher is faster). Peak memory is the job "
            "process's maximum resident set, Python and torch included; in brackets, what the job added "
            "after its imports. fewshot-fer holds the decoded faces in memory (28,709 x 48 x 48 bytes = "
            "66 MB) where easyfsl reads files as it goes, and keeps freed memory for reuse "
            "(`fewshot_fer/training/memory.py`), which costs ~150 MB of peak memory and buys a good part of the "
            "training speed (second line).", ""]
    out += scaling_table(rows, "size", f"Cost versus dataset size ({way}-way {shot}-shot {query}-query; training "
                         f"and {settings['eval_episodes']}-episode evaluation on the same random subset of the "
                         f"training faces)")
    out += scaling_table(rows, "shape", "Cost versus episode shape (training on all training faces; evaluation: "
                         f"{settings['shape_eval_episodes']} episodes on the test faces)")
    out += [f"Cold start: the first fewshot-fer run decodes the 28,709 training faces once into its cache "
            f"({settings['cold_decode_s']:.1f} s); every later run loads them in "
            f"{setup['fewshot-fer', 'train']:.2f} s.", ""]
    return "\n".join(out)


def repeat_ratios(head: list[dict[str, Any]], task: str) -> str:
    """``lowest-highest`` of easyfsl's time over fewshot-fer's, repeat by repeat."""
    ratios = [median(head, "seconds", toolkit="easyfsl", task=task, repeat=r)
              / median(head, "seconds", toolkit="fewshot-fer", task=task, repeat=r)
              for r in sorted({x["repeat"] for x in head if x["task"] == task})]
    return f"{min(ratios):.2f}-{max(ratios):.2f}x"


def scaling_table(rows: list[dict[str, Any]], table: str, title: str) -> list[str]:
    """One line per dataset size (``table="size"``) or episode shape (``"shape"``): time per
    episode of each toolkit, training and evaluation, and easyfsl's time over fewshot-fer's."""
    part = [r for r in rows if r["table"] == table]
    if not part:
        return []

    def line_of(r: dict[str, Any]) -> tuple:
        return (r["size"] or 10**9,) if table == "size" else (r["way"], r["shot"], r["query"])

    out = [f"## {title}", "",
           "| train images | eval images | way | shot | query | train ms/episode: fewshot-fer | easyfsl | ratio | "
           "eval ms/episode: fewshot-fer | easyfsl | ratio |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for key in sorted({line_of(r) for r in part}):
        cell = {(r["toolkit"], r["task"]): r for r in part if line_of(r) == key}
        ms = {k: 1000 * r["seconds"] / r["episodes"] for k, r in cell.items()}
        tr = (ms["fewshot-fer", "train"], ms["easyfsl", "train"])
        ev = (ms["fewshot-fer", "evaluate"], ms["easyfsl", "evaluate"])
        r = cell["fewshot-fer", "train"]
        out.append(f"| {r['images']:,} | {cell['fewshot-fer', 'evaluate']['images']:,} | {r['way']} | {r['shot']} | "
                   f"{r['query']} | {tr[0]:.1f} | {tr[1]:.1f} | {tr[1] / tr[0]:.2f}x | "
                   f"{ev[0]:.2f} | {ev[1]:.1f} | {ev[1] / ev[0]:.1f}x |")
    out.append("")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.job:
        print(RESULT_PREFIX + json.dumps(run_job(json.loads(args.job))))
        return 0
    try:
        from importlib.metadata import version

        import easyfsl  # noqa: F401
        easyfsl_version = version("easyfsl")
    except ImportError:
        raise ValueError("the speed benchmark compares with easyfsl; install it with `pip install easyfsl`.") from None
    root = Path(args.data_root)
    if not (root / "train").is_dir() or not (root / "test").is_dir():
        raise ValueError(f"{root} is not the FER2013 folder layout (train/ and test/ of class folders); "
                         f"give it with --data-root.")
    if args.threads <= 0 or args.repeats <= 0 or args.train_repeats <= 0 or args.train_episodes <= 0 or args.eval_episodes <= 0:
        raise ValueError("--threads, --repeats, --train-repeats, --train-episodes and --eval-episodes must be "
                         "positive.")
    way, shot, query = parse_shape(args.shape)
    shapes = [parse_shape(s) for s in args.shapes.split()]
    sizes = [None if s == "all" else int(s) for s in args.sizes.split(",")]
    base = {"root": str(root.resolve()), "threads": args.threads, "easyfsl_workers": args.easyfsl_workers,
            "way": way, "shot": shot, "query": query, "size": None, "feature_cache": True}

    print("cold start: fewshot-fer decodes the training faces into an empty cache", flush=True)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FEWSHOT_FER_CACHE"] = cache
        cold = measure({**base, "toolkit": "fewshot-fer", "task": "train", "split": "train", "episodes": 1})
        del os.environ["FEWSHOT_FER_CACHE"]
    print(f"headline: {args.train_repeats} training and {args.repeats} evaluation alternating repeats", flush=True)
    rows = headline(base, args.train_repeats, args.repeats, args.train_episodes, args.eval_episodes)
    print("cost versus dataset size", flush=True)
    for size in sizes:
        for toolkit in TOOLKITS:
            for task in ("train", "evaluate"):
                n = args.train_episodes if task == "train" else args.eval_episodes
                rows.append({**measure({**base, "toolkit": toolkit, "task": task, "split": "train", "size": size,
                                        "episodes": n}), "table": "size", "repeat": 0})
    print("cost versus episode shape", flush=True)
    for w, s, q in shapes:
        for toolkit in TOOLKITS:
            for task, split, n in (("train", "train", args.train_episodes),
                                   ("evaluate", "test", args.shape_eval_episodes)):
                rows.append({**measure({**base, "way": w, "shot": s, "query": q, "toolkit": toolkit, "task": task,
                                        "split": split, "episodes": n}),
                             "table": "shape", "repeat": 0})
    settings = {**vars(args), "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, {platform.system()}",
                "easyfsl_version": easyfsl_version, "torch_version": torch.__version__,
                "date": time.strftime("%Y-%m-%d"), "cold_decode_s": cold["setup_s"]}
    command = "python -m benchmarks.speed " + " ".join(sys.argv[1:] if argv is None else argv)
    text = render(rows, settings, command.strip())
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    write_csv(out.with_suffix(".csv"), [{k: v for k, v in r.items() if k != "root"} for r in rows])
    print(text)
    return 0


if __name__ == "__main__":
    run_cli(main)
