"""``python -m benchmarks.duel``: our ProtoNet against easyfsl's, same training, one run.

The reference duel of the design spec: FER2013 unseen expressions (train on anger, happiness,
sadness, neutral; test 3-way 5-shot 15-query on disgust, fear, surprise of the test split, the
same fixed episodes for every model), Conv-4, 48 px grey, flip + 2-pixel shift, Adam 1e-3, the
same number of training episodes. Rows: an untrained Conv-4 (the floor), the easyfsl peer, and
fewshot-fer's ``train`` command with its defaults and with one setting changed per ablation row,
each scored as the final model and as the epoch selected on validation episodes (val split).
Training jobs run as separate processes, ``--jobs`` at a time with ``--threads`` each; a finished
job with the same settings is reused (``--fresh`` retrains). Writes ``OUTPUT.md`` and ``OUTPUT.csv``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Sequence

import torch

from episodes import FixedEpisodes, mean_ci95, mean_ci95_t
from fewshot_fer.commands.cli import HelpFormatter, add_debug_flag, run_cli
from fewshot_fer.data import create_dataset
from fewshot_fer.data.duplicates import leave_out_copies
from fewshot_fer.evaluation.episodes import episode_accuracies
from fewshot_fer.models.build import build_model, load_trained, model_config
from fewshot_fer.training.rundir import git_commit, read_yaml, write_csv

from .duel_peer import score_peer, train_peer

SEEN = ["anger", "happiness", "sadness", "neutral"]
UNSEEN = ["disgust", "fear", "surprise"]
WAY, SHOT, QUERY = 3, 5, 15
# ablation rows: one setting of fewshot-fer's train command changed from its defaults
VARIANTS = {
    "fewshot-fer": [],
    "squared distance (old default)": ["--learner-option", "distance=squared"],
    "constant learning rate": ["--lr-schedule", "constant"],
    "no augmentation": ["--no-augment"],
    "separate batch-norm passes": ["--learner-option", "separate_passes=true"],
    "separate passes and constant learning rate (as the peer)": ["--learner-option", "separate_passes=true",
                                                                 "--lr-schedule", "constant"],
    "face augmentation": ["--augmentation", "face"],
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.duel", formatter_class=HelpFormatter,
                                description=__doc__.split("\n\n")[1])
    p.add_argument("--data-root", default="../shared/data/fer2013", help="FER2013 image folders (train/ val... test/)")
    p.add_argument("--train-episodes", type=int, default=2140, help="training episodes of every model")
    p.add_argument("--epochs", type=int, default=10,
                   help="fewshot-fer: the training episodes are split into this many epochs, each followed by validation")
    p.add_argument("--val-episodes", type=int, default=200, help="fewshot-fer: fixed validation episodes per epoch")
    p.add_argument("--eval-episodes", type=int, default=1000, help="fixed test episodes shared by every row")
    p.add_argument("--variants", default=",".join(VARIANTS),
                   help=f"fewshot-fer rows to train, comma-separated: {', '.join(VARIANTS)}")
    p.add_argument("--jobs", type=int, default=2, help="training processes at a time")
    p.add_argument("--threads", type=int, default=1, help="torch threads per training process")
    p.add_argument("--seeds", "--seed", type=seed_list, default=[0],
                   help="seeds, comma-separated (e.g. 0,1,2,3): each seeds every model's training and the test "
                        "episodes of its own duel; several give a table per seed and the mean over seeds. Seed 0 "
                        "trains in WORK_DIR, seed N in WORK_DIR/seedN")
    p.add_argument("--fresh", action="store_true", help="retrain every job instead of reusing finished ones")
    p.add_argument("--work-dir", default="runs/duel", help="training runs and the test episodes file")
    p.add_argument("--output", default="benchmarks/results/duel-fer2013", help="writes OUTPUT.md and OUTPUT.csv")
    p.add_argument("--peer-job", help=argparse.SUPPRESS)  # internal: train the easyfsl peer in this process
    add_debug_flag(p)
    return p


def seed_list(text: str) -> list[int]:
    """``"0,1,2"`` -> ``[0, 1, 2]`` (distinct non-negative integers)."""
    try:
        seeds = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds must be comma-separated integers, got {text!r}.") from None
    if len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise argparse.ArgumentTypeError(f"seeds must be distinct and non-negative, got {text!r}.")
    return seeds


def seed_work_dir(work: Path, seed: int) -> Path:
    """Seed 0 trains in ``work`` itself (where single-seed duels always have), seed N in ``work/seedN``."""
    return work if seed == 0 else work / f"seed{seed}"


def our_flags(args: argparse.Namespace, run_dir: Path, extra: list[str]) -> list[str]:
    per_epoch = args.train_episodes // args.epochs
    if per_epoch * args.epochs != args.train_episodes:
        raise ValueError(f"--train-episodes {args.train_episodes} must be a multiple of --epochs {args.epochs}.")
    return ["--dataset", "fer2013", "--data-root", args.data_root, "--classes", ",".join(SEEN),
            "--val-classes", ",".join(UNSEEN), "--way", str(WAY), "--shot", str(SHOT), "--query", str(QUERY),
            "--episodes-per-epoch", str(per_epoch), "--epochs", str(args.epochs), "--val-episodes",
            str(args.val_episodes), "--seed", str(args.seed), "--output", str(run_dir.parent),
            "--name", run_dir.name, *extra]


def run_job(name: str, command: list[str], job_dir: Path, threads: int, fresh: bool) -> dict[str, Any]:
    """Run ``command`` once for ``job_dir`` (reused when it finished with the same command)."""
    done = job_dir / "job.json"
    if not fresh and done.is_file() and json.loads(done.read_text())["command"] == command:
        print(f"  {name}: reusing {job_dir}", flush=True)
        return json.loads(done.read_text())
    shutil.rmtree(job_dir, ignore_errors=True)  # an unfinished or different earlier job
    job_dir.mkdir(parents=True)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    print(f"  {name}: training ({' '.join(command[2:4])} ...), log in {job_dir / 'log.txt'}", flush=True)
    start = time.perf_counter()
    with open(job_dir / "log.txt", "w") as log:
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env).returncode
    if code != 0:
        raise RuntimeError(f"{name} failed (exit {code}); see {job_dir / 'log.txt'}.")
    record = {"command": command, "wall_seconds": time.perf_counter() - start, "commit": git_commit()}
    done.write_text(json.dumps(record))
    return record


def train_all(args: argparse.Namespace, work: Path) -> dict[str, dict[str, Any]]:
    py = [sys.executable, "-m"]
    peer = {"root": args.data_root, "classes": SEEN, "way": WAY, "shot": SHOT, "query": QUERY,
            "episodes": args.train_episodes, "seed": args.seed, "out": str(work / "easyfsl" / "model.pt")}
    jobs = {"easyfsl": (py + ["benchmarks.duel", "--peer-job", json.dumps(peer)], work / "easyfsl")}
    for name in args.variants.split(","):  # variant names hold no commas
        if name not in VARIANTS:
            raise ValueError(f"unknown variant {name!r}; choose from: {', '.join(VARIANTS)}.")
        job_dir = work / name.split(" (")[0].replace(" ", "-")
        jobs[name] = (py + ["fewshot_fer.train", *our_flags(args, job_dir / "run", VARIANTS[name])], job_dir)
    torch.set_num_threads(args.threads)
    with ThreadPoolExecutor(args.jobs) as pool:
        futures = {n: pool.submit(run_job, n, cmd, d, args.threads, args.fresh) for n, (cmd, d) in jobs.items()}
        return {n: {**f.result(), "dir": str(jobs[n][1])} for n, f in futures.items()}


def our_training_minutes(run_dir: Path) -> float:
    """Minutes spent on training episodes (validation excluded), from the run's metrics."""
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    per_epoch = read_yaml(run_dir / "args.yaml")["episodes_per_epoch"]
    return sum(per_epoch / float(r["episodes_per_s"]) for r in rows) / 60


def score_all(args: argparse.Namespace, work: Path, jobs: dict[str, dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Every row's per-episode test accuracies; test faces that copy training or validation faces
    are left out first, as ``evaluate`` does (returns how many)."""
    # exact copies of training and validation faces only: the policy its committed tables were made with
    copies = leave_out_copies(create_dataset("fer2013", "test", args.data_root, classes=UNSEEN),
                              lambda split: create_dataset("fer2013", split, args.data_root), ("train", "val", "test"),
                              threshold=None, within=False)
    test, left_out = copies.kept, copies.left_out
    file = work / f"test_episodes-seed{args.seed}.json"
    if not file.is_file():
        sampler = test.episode_sampler(WAY, SHOT, QUERY, "evaluation", seed=args.seed, n_episodes=args.eval_episodes)
        FixedEpisodes.sample(sampler, test.keys, meta={"dataset": "fer2013", "split": "test", "classes": UNSEEN}).save(file)
    episodes = FixedEpisodes.load(file).indices(test.keys)[: args.eval_episodes]
    faces = args.train_episodes * WAY * (SHOT + QUERY)
    torch.manual_seed(args.seed)
    untrained = build_model(model_config("protonet", "conv4", 1, 48))
    rows = [{"model": "untrained Conv-4 (nearest centroid, Euclidean)", "weights": "random init", "kind": "random init",
             "accs": episode_accuracies(untrained, test, episodes, WAY, SHOT, QUERY), "episodes": 0, "faces": 0,
             "minutes": 0.0, "commit": git_commit()}]
    peer = jobs["easyfsl"]
    rows.append({"model": "easyfsl 1.5 PrototypicalNetworks (peer)", "weights": "final", "kind": "final",
                 "accs": score_peer(Path(peer["dir"]) / "model.pt", test.images, test.labels, episodes, WAY, SHOT, QUERY),
                 "episodes": args.train_episodes, "faces": faces,
                 "minutes": json.loads((Path(peer["dir"]) / "train.json").read_text())["train_seconds"] / 60,
                 "commit": peer["commit"]})
    for name, job in jobs.items():
        if name == "easyfsl":
            continue
        run = Path(job["dir"]) / "run"
        for weights, label in (("last.pt", "final"), ("best.pt", "best epoch on val")):
            learner, ckpt = load_trained(run / weights)
            if label != "final":
                label += f" ({ckpt['progress']['best_epoch']})"
            rows.append({"model": f"fewshot-fer ProtoNet: {name}" if name != "fewshot-fer" else
                         "fewshot-fer ProtoNet (defaults)", "weights": label,
                         "kind": label.split(" (")[0],
                         "accs": episode_accuracies(learner, test, episodes, WAY, SHOT, QUERY),
                         "episodes": args.train_episodes, "faces": faces, "minutes": our_training_minutes(run),
                         "commit": job["commit"]})
    return rows, left_out


def render(rows: list[dict[str, Any]], args: argparse.Namespace, command: str, left_out: int) -> str:
    peer = rows[1]["accs"]
    out = ["# Duel: fewshot-fer ProtoNet vs easyfsl ProtoNet, FER2013 unseen expressions", "",
           f"Command: `{command}`", "",
           f"Train on FER2013 {', '.join(SEEN)} (train split); test {WAY}-way {SHOT}-shot {QUERY}-query on "
           f"{', '.join(UNSEEN)} of the test split ({left_out} faces that copy training or validation faces left "
           f"out), {args.eval_episodes} fixed episodes shared by every row. Conv-4 "
           f"(64 channels), 48 px grey, `(x/255-0.5)/0.5`, flip + 2-pixel shift, Adam 1e-3, {args.train_episodes} "
           f"training episodes for every model. fewshot-fer: `python -m fewshot_fer.train` in {args.epochs} epochs "
           f"of {args.train_episodes // args.epochs} episodes, {args.val_episodes} validation episodes (val split) "
           f"after each; 'final' is the last epoch's model (as the peer), 'best epoch on val' the one selected on "
           f"validation. Each training job: {args.threads} torch thread(s), {args.jobs} jobs at a time on a "
           f"{os.cpu_count()}-core CPU. Seed {args.seed}. Chance 33.3%.", "",
           "| model | weights | test accuracy | paired difference vs peer | training episodes | faces seen | "
           "training minutes | commit |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        acc, ci = mean_ci95(r["accs"])
        diff = "-" if r["accs"] is peer else "{:+.2f} +- {:.2f}".format(*(100 * v for v in mean_ci95(r["accs"] - peer)))
        out.append(f"| {r['model']} | {r['weights']} | {100 * acc:.2f} +- {100 * ci:.2f}% | {diff} | "
                   f"{r['episodes']:,} | {r['faces']:,} | {r['minutes']:.1f} | {r['commit'][:10]} |")
    out += ["", "Paired difference: mean over the shared episodes of (row accuracy - peer accuracy), in points, "
            "with its 95% CI. Training minutes: time on training episodes (fewshot-fer: from the logged "
            "episodes per second, validation excluded; easyfsl: its training loop, image decoding included).", ""]
    return "\n".join(out)


def seed_summary(per_seed: dict[int, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Every row's test accuracy and paired difference vs the peer (points) in each seed, matched
    across seeds by model and weights kind (final, best epoch on val), with their means over seeds."""
    figures: dict[tuple[str, str], dict[str, list[float]]] = {}
    for rows in per_seed.values():
        peer = rows[1]["accs"]
        for r in rows:
            f = figures.setdefault((r["model"], r["kind"]), {"acc": [], "diff": []})
            f["acc"].append(100 * float(r["accs"].mean()))
            f["diff"].append(100 * float((r["accs"] - peer).mean()))
    summary = []
    for (model, kind), f in figures.items():
        if len(f["acc"]) != len(per_seed):
            raise ValueError(f"row {model!r} ({kind}) is missing from some seeds' tables; train every seed "
                             "with the same --variants.")
        (acc, acc_ci), (diff, diff_ci) = mean_ci95_t(f["acc"]), mean_ci95_t(f["diff"])
        summary.append({"model": model, "weights": kind, "accuracy_per_seed": f["acc"], "accuracy": acc,
                        "ci95": acc_ci, "diff_per_seed": f["diff"], "diff_vs_peer": diff, "diff_ci95": diff_ci,
                        "seeds_at_or_above_peer": sum(d >= 0 for d in f["diff"])})
    return summary


def render_seeds(summary: list[dict[str, Any]], args: argparse.Namespace, command: str) -> str:
    out = ["# Duel over seeds: fewshot-fer ProtoNet vs easyfsl ProtoNet, FER2013 unseen expressions", "",
           f"Command: `{command}`", "",
           f"Seeds {', '.join(map(str, args.seeds))}: each seed trains every model again and samples its own "
           f"{args.eval_episodes} fixed test episodes; the settings and each seed's table are in "
           f"`{Path(args.output).name}-seedN.md`. Mean over seeds with its 95% interval from Student's t over "
           "the seeds' figures (the spread from one training run to the next, not only that of the episodes). "
           "Paired difference: each seed's mean over its episodes of (row - peer accuracy), in points.", "",
           "| model | weights | test accuracy per seed | mean over seeds | paired difference vs peer per seed | "
           "mean paired difference | seeds at or above the peer |", "|---|---|---|---|---|---|---|"]
    for r in summary:
        peer = r["model"] == summary[1]["model"]
        out.append(f"| {r['model']} | {r['weights']} | {', '.join(f'{a:.2f}' for a in r['accuracy_per_seed'])} | "
                   f"{r['accuracy']:.2f} +- {r['ci95']:.2f}% | "
                   + ("- | - | - |" if peer else
                      f"{', '.join(f'{d:+.2f}' for d in r['diff_per_seed'])} | {r['diff_vs_peer']:+.2f} +- "
                      f"{r['diff_ci95']:.2f} | {r['seeds_at_or_above_peer']} of {len(args.seeds)} |"))
    return "\n".join(out + [""])


def write_table(output: str, text: str, rows: list[dict[str, Any]]) -> None:
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output + ".md").write_text(text)
    write_csv(output + ".csv", [{**{k: v for k, v in r.items() if k != "accs"},
                                 "accuracy": mean_ci95(r["accs"])[0], "ci95": mean_ci95(r["accs"])[1]}
                                for r in rows])


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.peer_job:
        job = json.loads(args.peer_job)
        result = train_peer(job)
        Path(job["out"]).with_name("train.json").write_text(json.dumps(result))
        return 0
    if not (Path(args.data_root) / "train").is_dir():
        raise FileNotFoundError(f"--data-root {args.data_root}: no train/ folder; expected FER2013 image folders.")
    command = ("python -m benchmarks.duel " + " ".join(argv if argv is not None else sys.argv[1:])).strip()
    per_seed = {}
    for seed in args.seeds:
        one = argparse.Namespace(**{**vars(args), "seed": seed})
        work = seed_work_dir(Path(args.work_dir), seed)
        if len(args.seeds) > 1:
            print(f"seed {seed}:", flush=True)
        rows, left_out = score_all(one, work, train_all(one, work))
        output = args.output if len(args.seeds) == 1 else f"{args.output}-seed{seed}"
        text = render(rows, one, command if len(args.seeds) == 1 else f"{command} (seed {seed})", left_out)
        write_table(output, text, rows)
        print(text)
        per_seed[seed] = rows
    if len(args.seeds) > 1:
        summary = seed_summary(per_seed)
        text = render_seeds(summary, args, command)
        Path(args.output + ".md").write_text(text)
        write_csv(args.output + ".csv", [{k: " ".join(f"{x:.4f}" for x in v) if isinstance(v, list) else v
                                          for k, v in r.items()} for r in summary])
        print(text)
    return 0


if __name__ == "__main__":
    run_cli(main)
