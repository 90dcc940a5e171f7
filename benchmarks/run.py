"""``python -m benchmarks.run --config benchmarks/configs/NAME.yaml``: train (or reuse) every
listed learner x backbone on each protocol, score all on the same fixed test episodes, and write
``benchmarks/results/<protocol>.md`` / ``.csv`` and the combined ``benchmarks/results/README.md``.

A protocol (``benchmarks/protocols/*.yaml``) names the source data the models train on, the
validation data that selects the epoch (never the test split), the target data and split they are
tested on, the episode shapes, and whether the target classes must be unseen in training. That
last claim is checked on the loaded data before anything trains; protocols whose source and
target share classes are marked as such in the tables.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any, Sequence

import yaml

from episodes import atomic_open
from fewshot_fer import evaluate, train
from fewshot_fer.cli import HelpFormatter
from fewshot_fer.data import create_dataset, loader_options
from fewshot_fer.engine.checkpoint import load_checkpoint
from fewshot_fer.engine.rundir import git_commit, write_csv
from fewshot_fer.labels import parse_classes

PROTOCOL_DIR = Path(__file__).with_name("protocols")
REQUIRED = {"name", "source", "select", "target", "unseen", "train", "eval"}


def load_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist.")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a mapping.")
    return data


def load_protocol(name_or_path: str) -> dict[str, Any]:
    path = Path(name_or_path)
    path = path if path.suffix == ".yaml" else PROTOCOL_DIR / f"{name_or_path}.yaml"
    protocol = load_yaml(path)
    missing = sorted(REQUIRED - set(protocol))
    if missing:
        raise ValueError(f"protocol {path} lacks the keys {missing}; see benchmarks/protocols/synthetic.yaml.")
    return protocol


def classes_of(part: dict[str, Any], split: str, roots: dict[str, str], image_size: int) -> list[str]:
    """The classes a protocol part really holds, read from the data (as training will see it)."""
    options = {k: part[k] for k in LOADER_KEYS if part.get(k) is not None}
    data = create_dataset(part["dataset"], split, roots.get(part["dataset"]), image_size,
                          classes=parse_classes(part.get("classes")), **loader_options(options, part["dataset"]))
    return data.present_classes()


def check_protocol(protocol: dict[str, Any], roots: dict[str, str], image_size: int) -> tuple[list[str], list[str]]:
    """Refuse a protocol whose "unseen" target classes occur in training; return the shared classes
    and the target's classes."""
    seen = classes_of(protocol["source"], "train", roots, image_size)
    target = classes_of(protocol["target"], protocol["target"]["split"], roots, image_size)
    shared = sorted(set(seen) & set(target))
    if protocol["unseen"] and shared:
        raise ValueError(f"protocol {protocol['name']!r} declares its target classes unseen, but {shared} "
                         f"are also training classes of {protocol['source']['dataset']}.")
    return shared, target


LOADER_KEYS = ("subject_regex", "clip_frames", "face_detector")  # per-part reading options


def data_flags(part: dict[str, Any], roots: dict[str, str], prefix: str = "") -> list[str]:
    flags = []
    if roots.get(part["dataset"]):
        flags += [f"--{prefix}data-root", str(roots[part["dataset"]])]
    if part.get("classes"):
        flags += [f"--{prefix}classes", ",".join(part["classes"])]
    for key in LOADER_KEYS:  # train reads every dataset with the same loader flags
        if part.get(key) is not None:
            flags += [f"--{key.replace('_', '-')}", str(part[key])]
    return flags


def train_flags(protocol: dict[str, Any], learner: str, backbone: str, settings: dict[str, Any],
                roots: dict[str, str]) -> list[str]:
    src, sel, t, v = protocol["source"], protocol["select"], protocol["train"], protocol["eval"]
    same = sel["dataset"] == src["dataset"]  # then --data-root serves both
    flags = ["--dataset", src["dataset"], *data_flags(src, roots), "--val-dataset", sel["dataset"],
             *data_flags(sel, {} if same else roots, "val-"), "--way", str(t["way"]), "--shot", str(t["shot"]),
             "--query", str(t["query"]), "--val-way", str(v["way"]), "--val-shot", str(v["shot"]),
             "--learner", learner, "--backbone", backbone]
    for key in ("epochs", "episodes_per_epoch", "val_episodes", "image_size", "channels", "seed", "lr"):
        if key in settings:
            flags += [f"--{key.replace('_', '-')}", str(settings[key])]
    for option in settings.get("learner_options", {}).get(learner, []):
        flags += ["--learner-option", option]
    return flags


def check_reusable(run_dir: Path, flags: list[str]) -> None:
    """A finished run is reused only if it was trained with these very settings."""
    parser = train.build_parser()
    wanted = vars(parser.parse_args(flags))
    saved = yaml.safe_load((run_dir / "args.yaml").read_text())
    typed = train.explicit_flags(parser, flags)
    differ = [k for k in sorted(typed) if str(saved.get(k)) != str(wanted[k])]
    if differ:
        raise ValueError(f"{run_dir} was trained with other settings ({', '.join(f'{k}: {saved.get(k)} vs {wanted[k]}' for k in differ)}); "
                         f"remove or rename it to train again.")


def run_protocol(protocol: dict[str, Any], config: dict[str, Any], out: Path, results: Path) -> list[dict]:
    roots = {k: str(v) for k, v in (config.get("data_roots") or {}).items()}
    settings = config.get("train") or {}
    shared, target_classes = check_protocol(protocol, roots, settings.get("image_size", 48))
    episodes_file = out / "episodes" / f"{protocol['name']}.json"
    rows = []
    for backbone in config.get("backbones", ["conv4"]):
        for learner in config.get("learners") or []:
            name = f"{protocol['name']}-{learner}-{backbone}"
            flags = train_flags(protocol, learner, backbone, settings, roots)
            run_dir = out / name
            if (run_dir / "best.pt").is_file():
                check_reusable(run_dir, flags)
            else:
                train.main([*flags, "--output", str(out), "--name", name])
            score = score_on_target(protocol, run_dir / "best.pt", roots, episodes_file,
                                    run_dir / f"test-{protocol['name']}")
            history = list(csv.DictReader(open(run_dir / "metrics.csv")))
            best = max(history, key=lambda r: float(r["val_acc"]))
            # training time from the logged speed: episodes / (episodes per second), validation excluded
            minutes = sum(settings.get("episodes_per_epoch", 100) / float(r["episodes_per_s"]) for r in history) / 60
            rows.append({"protocol": protocol["name"], "learner": learner, "backbone": backbone, **score,
                         "val_accuracy": float(best["val_acc"]), "val_ci95": float(best["val_ci95"]),
                         "best_epoch": int(best["epoch"]),
                         "train_minutes": round(minutes, 1),
                         "shared_classes": " ".join(shared), "commit": git_commit()})
    for baseline in config.get("baselines") or []:
        rows.append(score_baseline(protocol, baseline, roots, target_classes, episodes_file, out, shared))
    write_tables(protocol, rows, results, config)
    return rows


def score_on_target(protocol: dict[str, Any], checkpoint: Path, roots: dict[str, str], episodes_file: Path,
                    result_dir: Path) -> dict[str, Any]:
    """Evaluate ``checkpoint`` on the protocol's fixed test episodes; its figures as table columns."""
    target, ev = protocol["target"], protocol["eval"]
    evaluate.main(["--checkpoint", str(checkpoint), "--dataset", target["dataset"], *data_flags(target, roots),
                   "--split", target["split"], "--way", str(ev["way"]), "--shot", str(ev["shot"]),
                   "--query", str(ev["query"]), "--episodes", str(ev["episodes"]),
                   "--episodes-file", str(episodes_file), "--output", str(result_dir)])
    summary = json.loads((result_dir / "summary.json").read_text())
    score = summary["shots"][str(ev["shot"])]
    return {"accuracy": score["accuracy"], "ci95": score["ci95"], "episodes": score["episodes"],
            "query": summary["query"], "clip_accuracy": score.get("clip_accuracy", ""),
            "clip_ci95": score.get("clip_ci95", "")}


def score_baseline(protocol: dict[str, Any], baseline: dict[str, Any], roots: dict[str, str],
                   target_classes: list[str], episodes_file: Path, out: Path,
                   shared: list[str]) -> dict[str, Any]:
    """A classifier from ``fewshot_fer.selftrain`` as a frozen feature extractor with a
    nearest-centroid head, scored on the protocol's fixed test episodes."""
    ckpt = load_checkpoint(baseline["checkpoint"])
    seen = ckpt.get("args", {}).get("train_classes", [])
    leak = sorted(set(seen) & set(target_classes))
    if protocol["unseen"] and leak:
        raise ValueError(f"baseline {baseline['name']!r} was trained on {leak}, which protocol "
                         f"{protocol['name']!r} keeps unseen; train it with --classes excluding them.")
    score = score_on_target(protocol, Path(baseline["checkpoint"]), roots, episodes_file,
                            out / f"{protocol['name']}-{baseline['name']}")
    return {"protocol": protocol["name"], "learner": baseline["name"], "backbone": ckpt["model_config"]["backbone"],
            **score, "val_accuracy": "", "val_ci95": "", "best_epoch": "-", "train_minutes": "-",
            "shared_classes": " ".join(shared), "commit": git_commit()}


def pct(value: Any, unit: str = "") -> str:
    """A 0..1 value as a percentage; ``-`` where there is none (baselines have no validation run)."""
    return "-" if value in ("", None) else f"{100 * float(value):.2f}{unit}"


def write_tables(protocol: dict[str, Any], rows: list[dict], results: Path, config: dict[str, Any]) -> None:
    results.mkdir(parents=True, exist_ok=True)
    write_csv(results / f"{protocol['name']}.csv", rows)
    ev, src, tgt = protocol["eval"], protocol["source"], protocol["target"]
    shared = rows[0]["shared_classes"] if rows else ""
    lines = [f"# {protocol['name']}", "",
             f"Train on `{src['dataset']}` {src.get('classes') or 'all classes'}, select on `{protocol['select']['dataset']}` "
             f"val, test on `{tgt['dataset']}` {tgt['split']} {tgt.get('classes') or 'all classes'}: "
             f"{ev['way']}-way {ev['shot']}-shot, {rows[0]['query'] if rows else ev['query']} queries per class, "
             f"{rows[0]['episodes'] if rows else '?'} "
             f"fixed episodes shared by every model.",
             f"Classes shared by training and test: {shared or 'none (checked)'}.", "",
             f"Command: `python -m benchmarks.run --config {config['_path']}`", "",
             "Validation accuracy: the selected (best) epoch on the run's fixed validation episodes, the same "
             "episodes for every model of the protocol.", "",
             "Training minutes: time spent on training episodes (from the logged episodes per second; validation "
             "excluded), on the machine that ran the command.", "",
             "| learner | backbone | test accuracy | 95% CI | clip accuracy | val accuracy | val 95% CI | best epoch | training minutes |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['learner']} | {r['backbone']} | {pct(r['accuracy'], '%')} | +- {pct(r['ci95'])} | "
              f"{pct(r['clip_accuracy'])} | {pct(r['val_accuracy'], '%')} | +- {pct(r['val_ci95'])} | "
              f"{r['best_epoch']} | {r['train_minutes']} |" for r in rows]
    with atomic_open(results / f"{protocol['name']}.md") as f:
        f.write("\n".join(lines) + "\n")
    combined = ["# Benchmark results", "", "Every table is written by `python -m benchmarks.run`; test accuracy "
                "(mean +- 95% CI over the protocol's fixed episodes). Details per protocol in `<protocol>.md`.", "",
                "| protocol | learner | backbone | test accuracy | shared classes | commit |", "|---|---|---|---|---|---|"]
    for table in sorted(results.glob("*.csv")):
        for r in csv.DictReader(open(table)):
            if "protocol" in r and "accuracy" in r:
                combined.append(f"| {r['protocol']} | {r['learner']} | {r['backbone']} | {pct(r['accuracy'])} +- "
                                f"{pct(r['ci95'])}% | {r['shared_classes'] or 'none'} | {r['commit'][:10]} |")
    with atomic_open(results / "README.md") as f:
        f.write("\n".join(combined) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", formatter_class=HelpFormatter,
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="benchmark YAML: protocols, learners, backbones, data_roots, "
                                                    "train settings, output and results folders")
    args = p.parse_args(argv)
    config = load_yaml(Path(args.config))
    config["_path"] = args.config
    if not config.get("protocols") or not (config.get("learners") or config.get("baselines")):
        raise ValueError(f"{args.config} must list protocols, and learners or baselines.")
    out, results = Path(config.get("output", "runs/benchmarks")), Path(config.get("results", "benchmarks/results"))
    protocols = [load_protocol(name) for name in config["protocols"]]
    for protocol in protocols:
        rows = run_protocol(protocol, config, out, results)
        for r in rows:
            print(f"{protocol['name']:<24} {r['learner']:<12} {r['backbone']:<9} "
                  f"{pct(r['accuracy'])} +- {pct(r['ci95'])}%")
    return 0


if __name__ == "__main__":
    from fewshot_fer.cli import run_cli
    run_cli(main)
