"""The speed comparison, an experiment of the benchmark runner (``experiment: speed`` in a config of
``python -m benchmarks.run``): fewshot-fer against easyfsl, side by side, in one run.

Both toolkits train and evaluate a prototypical network with the same Conv-4 on the same FER2013
images (48x48 grey faces; the training and test splits of the config's classification protocol),
with the same episode shape and the same number of threads. Every measurement runs in its own child
process (so peak memory is that job's alone) and the two toolkits alternate, repeat after repeat,
so that a busy machine slows both alike. Results are ratios of medians; the tables go to
``RESULTS/TABLE.md`` and ``.csv`` (``benchmarks/results/speed.md`` for the shipped config).

Needs easyfsl: ``pip install -e ".[bench]"``. Its TaskSampler fails on current torch; the benchmark
patches that one call (see ``speed_jobs.patched_sampler_init``), nothing else.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from fewshot_fer.training.rundir import write_csv

from .protocol import experiment_protocol
from .speed_jobs import RESULT_PREFIX

TOOLKITS = ("fewshot-fer", "easyfsl")
CONFIG_KEYS = frozenset({"experiment", "protocols", "data_roots", "speed", "table", "results"})


@dataclasses.dataclass(frozen=True)
class SpeedSettings:
    """The ``speed:`` mapping of a speed config; every number sizes work, so each is checked."""

    threads: int = os.cpu_count() or 1  # torch threads of every job
    train_repeats: int = 7  # alternating repeats of the headline training comparison (a pair takes ~30 s)
    repeats: int = 3  # alternating repeats of the headline evaluation comparison (easyfsl takes ~5 min each)
    train_episodes: int = 30  # timed training episodes per job
    eval_episodes: int = 1000  # episodes of the headline evaluation
    shape: tuple[int, int, int] = (5, 5, 15)  # headline episode shape: way, shot, query
    sizes: tuple[int | None, ...] = (1000, 10000, None)  # training-set sizes of the scaling table (None: all)
    shapes: tuple[tuple[int, int, int], ...] = ((5, 1, 15), (5, 5, 15), (5, 10, 15), (7, 5, 15))
    shape_eval_episodes: int = 200  # evaluation episodes per shape in the episode-shape table
    easyfsl_workers: int = 0  # DataLoader workers of easyfsl (0: decode in the main process, like fewshot-fer)

    @classmethod
    def from_mapping(cls, given: Any, where: str) -> "SpeedSettings":
        """The settings of ``given`` (a mapping; ``sizes`` may hold ``all``), or one sentence naming
        the key and what it must be."""
        if not isinstance(given, dict):
            raise ValueError(f"{where}: speed must be a mapping of settings, got {given!r}.")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise ValueError(f"{where}: unknown speed setting {unknown[0]!r}; expected some of {', '.join(names)}.")
        values = {}
        for key, value in given.items():
            if key == "shape":
                values[key] = episode_shape(value, f"{where}: speed.shape")
            elif key == "shapes":
                if not isinstance(value, list):
                    raise ValueError(f"{where}: speed.shapes must be a list of [way, shot, query], got {value!r}.")
                values[key] = tuple(episode_shape(v, f"{where}: speed.shapes") for v in value)
            elif key == "sizes":
                if not (isinstance(value, list) and value):
                    raise ValueError(f"{where}: speed.sizes must be a list of image counts or all, got {value!r}.")
                values[key] = tuple(None if v == "all" else whole(v, f"{where}: speed.sizes", 1) for v in value)
            else:
                values[key] = whole(value, f"{where}: speed.{key}", 0 if key == "easyfsl_workers" else 1)
        return cls(**values)


def whole(value: Any, what: str, least: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ValueError(f"{what} must be a whole number {least} or more, got {value!r}.")
    return value


def episode_shape(value: Any, what: str) -> tuple[int, int, int]:
    if not (isinstance(value, list) and len(value) == 3):
        raise ValueError(f"{what}: an episode shape is [way, shot, query] such as [5, 5, 15], got {value!r}.")
    way, shot, query = (whole(v, what, 1) for v in value)
    if way < 2:
        raise ValueError(f"{what}: an episode needs 2 or more classes, got way {way}.")
    return way, shot, query


def check_config(config: dict[str, Any]) -> tuple[Path, SpeedSettings]:
    """The FER2013 folder and the settings of a speed config; one sentence for what it cannot run."""
    path = config["_path"]
    protocol = experiment_protocol(config, CONFIG_KEYS, "speed")
    if protocol["source"]["dataset"] != "fer2013":
        raise ValueError(f"{path}: the speed comparison reads FER2013's training and test folders; protocol "
                         f"{protocol['name']!r} trains on {protocol['source']['dataset']}.")
    root = Path(str((config.get("data_roots") or {}).get("fer2013", "")))
    if not (root / "train").is_dir() or not (root / "test").is_dir():
        raise ValueError(f"{path}: data_roots.fer2013 {str(root)!r} is not the FER2013 folder layout (train/ and "
                         f"test/ of class folders).")
    return root, SpeedSettings.from_mapping(config.get("speed") or {}, path)


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """Run ``job`` in a fresh process and return its result."""
    env = {**os.environ, **{k: str(job["threads"]) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}}
    done = subprocess.run([sys.executable, "-m", "benchmarks.speed_jobs", json.dumps(job)],
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
        tasks = [(task, n) for task, n, k in (("train", train_n, train_repeats), ("evaluate", eval_n, repeats))
                 if r < k]
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
    way, shot, query = settings["shape"]
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


def run_experiment(config: dict[str, Any]) -> int:
    """Every measurement of the comparison, then ``RESULTS/TABLE.md`` and ``.csv``."""
    root, chosen = check_config(config)
    try:
        from importlib.metadata import version

        import easyfsl  # noqa: F401
        easyfsl_version = version("easyfsl")
    except ImportError:
        raise ValueError("the speed comparison measures easyfsl too; install it with "
                         "`pip install -e \".[bench]\"`.") from None
    way, shot, query = chosen.shape
    base = {"root": str(root.resolve()), "threads": chosen.threads, "easyfsl_workers": chosen.easyfsl_workers,
            "way": way, "shot": shot, "query": query, "size": None, "feature_cache": True}

    print("cold start: fewshot-fer decodes the training faces into an empty cache", flush=True)
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FEWSHOT_FER_CACHE"] = cache
        cold = measure({**base, "toolkit": "fewshot-fer", "task": "train", "split": "train", "episodes": 1})
        del os.environ["FEWSHOT_FER_CACHE"]
    print(f"headline: {chosen.train_repeats} training and {chosen.repeats} evaluation alternating repeats", flush=True)
    rows = headline(base, chosen.train_repeats, chosen.repeats, chosen.train_episodes, chosen.eval_episodes)
    print("cost versus dataset size", flush=True)
    for size in chosen.sizes:
        for toolkit in TOOLKITS:
            for task in ("train", "evaluate"):
                n = chosen.train_episodes if task == "train" else chosen.eval_episodes
                rows.append({**measure({**base, "toolkit": toolkit, "task": task, "split": "train", "size": size,
                                        "episodes": n}), "table": "size", "repeat": 0})
    print("cost versus episode shape", flush=True)
    for w, s, q in chosen.shapes:
        for toolkit in TOOLKITS:
            for task, split, n in (("train", "train", chosen.train_episodes),
                                   ("evaluate", "test", chosen.shape_eval_episodes)):
                rows.append({**measure({**base, "way": w, "shot": s, "query": q, "toolkit": toolkit, "task": task,
                                        "split": split, "episodes": n}),
                             "table": "shape", "repeat": 0})
    settings = {**dataclasses.asdict(chosen), "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, "
                                                          f"{platform.system()}",
                "easyfsl_version": easyfsl_version, "torch_version": torch.__version__,
                "date": time.strftime("%Y-%m-%d"), "cold_decode_s": cold["setup_s"]}
    text = render(rows, settings, config["_command"])
    out = Path(config.get("results", "benchmarks/results")) / str(config.get("table", "speed"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".md").write_text(text)
    write_csv(out.with_suffix(".csv"), [{k: v for k, v in r.items() if k != "root"} for r in rows])
    print(text)
    return 0
