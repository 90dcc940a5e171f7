"""``python -m fewshot_fer.evaluate``: score a trained model on fixed episodes of any dataset.

Episodes are drawn once per protocol and seed and saved (``--episodes-file``), so every model is
scored on exactly the same tasks. Writes per-episode accuracies (CSV), a JSON summary with mean
+- 95% CI, a confusion matrix (CSV and PNG) and, with ``--shots``, an accuracy-versus-shot plot.
For video datasets (AFEW) it adds clip-level accuracy: the frames of a query clip vote with the
mean of their probabilities; a clip's frames are never split between support and query.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

import torch

from episodes import FixedEpisodes, atomic_open, cluster_bootstrap_ci95, mean_ci95

from ..data import (
    DATASETS,
    FaceDataset,
    add_loader_arguments,
    create_dataset,
    dataset_splits,
    is_video,
    loader_options,
)
from ..data.catalog import GIVEN, near_threshold
from ..data.duplicates import leave_out_copies
from ..devices import resolve_device
from ..evaluation.episodes import CLIP_VOTE_HELP, CLIP_VOTES, evaluate_episodes, vote_episodes
from ..evaluation.plots import accuracy_plot, confusion_plot
from ..labels import parse_classes
from ..limits import check_limits
from ..models.build import TEST_TIME_OPTIONS, load_models, parse_options
from ..training.recipes import recorded_settings
from ..training.recipes.episodic import QUERY_HELP
from ..training.rundir import write_csv
from .cli import add_debug_flag, command_parser, parse_with_config, run_cli


def build_parser() -> argparse.ArgumentParser:
    p = command_parser("evaluate", __doc__,
                       "python -m fewshot_fer.evaluate --checkpoint runs/X/best.pt --dataset synthetic-compound "
                       "--split test --way 3 --shot 5")
    p.add_argument("--config", help="YAML file of settings; flags on the command line override it")
    p.add_argument("--checkpoint", required=True, nargs="+", metavar="PATH",
                   help="best.pt or last.pt of a training run; several: their ensemble, which predicts by the "
                        "mean of the models' class probabilities (soft vote) on the same episodes, each model "
                        "reading the faces with its own normalisation (they must share image size and channels)")
    d = p.add_argument_group("data")
    d.add_argument("--dataset", default=None, help=f"{', '.join(DATASETS.names())} (default: the run's "
                                                   f"validation dataset)")
    d.add_argument("--data-root", default=None, help="folder of the dataset as unpacked")
    d.add_argument("--split", default="test",
                   help="train, val or test (model selection never used test), or all: every image of a dataset "
                        "the model never trained or was selected on (a whole CK+, JAFFE or folder of your photos)")
    d.add_argument("--classes", default=None, help="comma-separated classes to draw episodes from (default: all)")
    add_loader_arguments(d)
    e = p.add_argument_group("episodes")
    e.add_argument("--way", type=int, default=None, help="classes per episode (default: the run's --val-way)")
    e.add_argument("--shot", type=int, default=None, help="support images per class (default: the run's --val-shot)")
    e.add_argument("--shots", default=None, help="comma-separated shot counts, e.g. 1,5,10: one episode set "
                                                 "each and an accuracy-versus-shot plot (overrides --shot)")
    e.add_argument("--query", type=int, default=15, help=QUERY_HELP)
    e.add_argument("--episodes", type=int, default=1000, help="number of fixed episodes")
    e.add_argument("--episodes-file", default=None,
                   help="fixed episodes to reuse (made and saved there when missing; with --shots, one "
                        "file per shot: NAME.<k>shot.json)")
    e.add_argument("--seed", type=int, default=0, help="seed of the episodes")
    e.add_argument("--clip-vote", default="mean", choices=CLIP_VOTES,
                   help=f"video datasets' clip-level accuracy: {CLIP_VOTE_HELP}")
    r = p.add_argument_group("run")
    r.add_argument("--output", default=None,
                   help="results folder (default: eval-<dataset>-<split>-<way>way beside the checkpoint)")
    r.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    e.add_argument("--keep-duplicates", action="store_true",
                   help="keep faces that are exact pixel copies of faces in the training (and, for test, "
                        "validation) split; by default they are left out and counted")
    r.add_argument("--learner-option", action="append", default=None, metavar="KEY=VALUE",
                   help=f"test-time learner option, repeatable: {', '.join(TEST_TIME_OPTIONS)} (e.g. flip=true "
                        "averages mirror images; shift=1 also the image moved 1 pixel towards each corner; "
                        "centre=true subtracts the training classes' mean feature, the checkpoint's or, when "
                        "it holds none, computed from the training faces its args name (read again); "
                        "l2=true scales features to unit length before the class means; power=0.5 takes the "
                        "signed square root of every feature value first; "
                        "transductive_steps=3 refines prototypes with the queries: report such scores apart "
                        "from inductive ones)")
    r.add_argument("--no-feature-cache", dest="feature_cache", action="store_false",
                   help="run every episode through the full model even when features could be cached")
    add_debug_flag(p)
    return p


def episodes_for(dataset: FaceDataset, way: int, shot: int, query: int, n: int, seed: int,
                 path: Path) -> FixedEpisodes:
    """The fixed episodes at ``path``, made and saved there first when the file does not exist; a
    file of another shape or count than asked for is refused, never silently reused."""
    if path.is_file():
        fixed = FixedEpisodes.load(path)
        if (fixed.n_way, fixed.k_shot, fixed.n_query) != (way, shot, query):
            raise ValueError(f"episodes file {path} holds {fixed.n_way}-way {fixed.k_shot}-shot {fixed.n_query}-query "
                             f"episodes, not the {way}-way {shot}-shot {query}-query asked for.")
        if len(fixed) != n:
            raise ValueError(f"episodes file {path} holds {len(fixed)} episodes, not the {n} asked for (--episodes); "
                             f"ask for {len(fixed)}, or name another --episodes-file to draw {n} new ones.")
        return fixed
    sampler = dataset.episode_sampler(way, shot, query, "evaluation", seed=seed, n_episodes=n)
    fixed = FixedEpisodes.sample(sampler, dataset.keys, meta={"dataset": dataset.name, "split": dataset.split,
                                                              "classes": dataset.present_classes()})
    path.parent.mkdir(parents=True, exist_ok=True)
    fixed.save(path)
    return fixed


def shot_file(base: Path, shot: int, several: bool) -> Path:
    return base.with_name(f"{base.stem}.{shot}shot{base.suffix}") if several else base


def main(argv: Sequence[str] | None = None) -> int:
    run(argv)
    return 0


def run(argv: Sequence[str] | None = None, parser: argparse.ArgumentParser | None = None,
        backbone: torch.nn.Module | None = None, learner: torch.nn.Module | None = None,
        test_set: FaceDataset | None = None) -> tuple[Path, dict[str, Any], dict[int, torch.Tensor]]:
    """``python -m fewshot_fer.evaluate ARGV``; returns the results folder, the summary written to
    its ``summary.json`` and each shot's per-episode accuracies ``[n_episodes]``. ``backbone``: for
    a model trained with a backbone given as a module, a module of its architecture; ``learner``: the
    same for a model trained as a learner object; ``test_set``: a ``FaceDataset`` object scored in
    place of ``--dataset`` (as it is: no duplicates are looked for)."""
    args = parse_with_config(parser or build_parser(), argv)
    device = resolve_device(args.device)
    members = load_models(args.checkpoint, device, parse_options(args.learner_option, "--learner-option"), backbone,
                          learner)
    checkpoint = members[0][1]
    recorded = [recorded_settings(c, path) for (_, c), path in zip(members, args.checkpoint)]
    run_args, config = recorded[0], checkpoint["model_config"]
    name = f"{GIVEN}{test_set.name}" if test_set is not None else \
        args.dataset or run_args.get("val_dataset", "synthetic-compound")
    way, shots = episode_shape(args, run_args)
    dataset, left_out, compared, copies = faces_to_score(args, name, recorded, config, test_set)
    # One query size for every shot (the largest shot decides), so the shots are comparable.
    query = dataset.fit_query(max(shots), args.query, "evaluation")
    first = Path(args.checkpoint[0])
    out = Path(args.output) if args.output else first.parent / f"eval-{name.replace(':', '-')}-{args.split}-{way}way"
    out.mkdir(parents=True, exist_ok=True)
    base = Path(args.episodes_file) if args.episodes_file else out / "episodes.json"
    per_shot: dict[int, torch.Tensor] = {}
    several = len(members) > 1
    rows, summary = [], {"checkpoint": args.checkpoint if several else args.checkpoint[0], "dataset": name,
                         "split": args.split, "classes": dataset.present_classes(), "way": way, "query": query,
                         "duplicates_left_out": left_out, "duplicates_compared_with": compared, **copies,
                         "test_time_options": args.learner_option or [], "clip_vote": args.clip_vote,
                         "pool": pool_counts(dataset), "shots": {}}
    known_features: list[dict[int, torch.Tensor]] = [{} for _ in members]  # each face embedded once for all shots
    for k, shot in enumerate(shots):
        fixed = episodes_for(dataset, way, shot, query, args.episodes, args.seed,
                             shot_file(base, shot, len(shots) > 1))
        indices = fixed.indices(dataset.keys)
        each = [evaluate_episodes(learner, dataset, indices, way, shot, query, device,
                                  c["model_config"]["mean"], c["model_config"]["std"],
                                  use_feature_cache=args.feature_cache, known_features=known)
                for (learner, c), known in zip(members, known_features)]
        results = vote_episodes(each) if several else each[0]
        per_shot[shot] = results.accuracies
        entry, shot_rows = score_shot(results, dataset, name, args.clip_vote, way, shot)
        if several:  # each member's own figure beside the vote's
            entry["members"] = {path: float(r.accuracies.mean()) for path, r in zip(args.checkpoint, each)}
            for path, accuracy in entry["members"].items():
                print(f"  member {path}: {100 * accuracy:.2f}%")
        summary["shots"][str(shot)] = {**entry, "episodes_file": str(shot_file(base, shot, len(shots) > 1))}
        rows += shot_rows
        if k == 0:
            write_confusion(results, dataset, out, f"{name} {args.split}, {way}-way {shot}-shot: rows true, "
                                                   f"columns predicted")
    write_csv(out / "episodes.csv", rows)
    plot_shots(summary, shots, out, f"{'ensemble' if several else config['learner']} on {name} {args.split}, "
                                     f"{way}-way")
    with atomic_open(out / "summary.json") as f:
        json.dump(summary, f, indent=2)
    print(f"results: {out}")
    return out, summary, per_shot


def plot_shots(summary: dict[str, Any], shots: list[int], out: Path, title: str) -> None:
    """Accuracy against shot (``accuracy_vs_shot.png``) when several shots were scored."""
    if len(shots) > 1:
        s = summary["shots"]
        accuracy_plot(shots, [s[str(k)]["accuracy"] for k in shots], [s[str(k)]["ci95"] for k in shots],
                      out / "accuracy_vs_shot.png", title)


def episode_shape(args: argparse.Namespace, run_args: dict[str, Any]) -> tuple[int, list[int]]:
    """The way and the shot counts to score (the run's validation shape unless given), checked."""
    way = run_args.get("val_way", 5) if args.way is None else args.way
    if way < 2:  # one class makes every prediction right: not a few-shot task
        raise ValueError(f"--way must be 2 or more (classes per episode), got {way}.")
    try:
        shots = ([int(s) for s in args.shots.split(",")] if args.shots
                 else [run_args.get("val_shot", 5) if args.shot is None else args.shot])
    except ValueError:
        raise ValueError(f"--shots {args.shots!r} must be whole numbers separated by commas, e.g. 1,5,10.") from None
    if args.episodes <= 0 or args.query <= 0 or min(shots) <= 0:
        raise ValueError(f"--episodes, --query and the shots must be positive, got {args.episodes}, "
                         f"{args.query} and {shots}.")
    check_limits({**vars(args), "way": way, "shot": max(shots)})
    return way, shots


def faces_to_score(args: argparse.Namespace, name: str, recorded: list[dict[str, Any]], config: dict[str, Any],
                   test_set: FaceDataset | None) -> tuple[FaceDataset, int, list[str], dict[str, Any]]:
    """``test_set`` as it is, or ``read_test_faces``; ``--split all`` is refused on a dataset the
    models were trained or selected on."""
    used = {r.get(k) for r in recorded for k in ("dataset", "val_dataset")} - {None}
    if args.split == "all" and name in used:
        raise ValueError(f"--split all scores every {name} image, but this model was trained or selected on {name}; "
                         f"use --split test, or --split all on a dataset it never saw.")
    return (test_set, 0, [], {}) if test_set is not None else read_test_faces(args, name, config)


def read_test_faces(args: argparse.Namespace, name: str, config: dict[str, Any]
                    ) -> tuple[FaceDataset, int, list[str], dict[str, Any]]:
    """The evaluated split, without faces that copy training or validation faces, exactly or nearly
    (a perceptual hash within a few bits; real datasets only), nor another face of the split (unless
    ``--keep-duplicates``); also how many were left out, the splits compared with, and the counts."""
    load = lambda split, classes=None: create_dataset(  # noqa: E731
        name, split, args.data_root, config["image_size"], config["in_chans"], classes=classes,
        **loader_options(vars(args), name))
    dataset = load(args.split, parse_classes(args.classes))
    print(f"model: {config['learner']}/{config['backbone']} from {' + '.join(args.checkpoint)}\ndata:  {dataset}")
    if args.keep_duplicates:
        return dataset, 0, [], {}
    copies = leave_out_copies(dataset, load, dataset_splits(name), near_threshold(name))
    if copies.left_out and not len(copies.kept):
        raise ValueError(f"every {args.split} face of {name} copies another face (of {' or '.join(copies.compared) or 'its split'}); "
                         f"nothing is left to evaluate (--keep-duplicates evaluates them anyway).")
    if copies.left_out:
        near = f", {copies.near} near copies (perceptual hash within {copies.threshold} bits)" \
            if copies.threshold is not None else ""
        print(f"left out {copies.left_out} {args.split} faces: {copies.exact} exact copies of "
              f"{' or '.join(copies.compared) or 'no other split'} faces{near}, {copies.within} copies of another "
              f"{args.split} face (--keep-duplicates keeps them)")
    return copies.kept, copies.left_out, copies.compared, copies.summary()


def pool_counts(dataset: FaceDataset) -> dict[str, dict[str, int]]:
    """Faces (and groups: people or clips, where known) per class of the evaluated pool."""
    out = {}
    for c in dataset.present_classes():
        members = dataset.labels == dataset.class_names.index(c)
        out[c] = {"faces": int(members.sum()),
                  **({"groups": int(len(torch.unique(dataset.groups[members])))} if dataset.groups is not None else {})}
    return out


def pool_intervals(results: Any, dataset: FaceDataset) -> dict[str, Any]:
    """95% bootstrap intervals that resample the test pool rather than the episodes: its faces, and
    its groups (people, or clips) when the dataset has them (``episodes.cluster_bootstrap_ci95``)."""
    correct = (results.probs.argmax(-1) == results.query_y).flatten()
    faces = results.query_index.flatten()
    out = {"face_bootstrap_ci95": list(cluster_bootstrap_ci95(correct, faces)),
           "distinct_query_faces": int(len(torch.unique(faces)))}
    if dataset.groups is not None:
        out["group_bootstrap_ci95"] = list(cluster_bootstrap_ci95(correct, dataset.groups[faces]))
        out["distinct_query_groups"] = int(len(torch.unique(dataset.groups[faces])))
    return out


def score_shot(results: Any, dataset: FaceDataset, name: str, clip_vote: str, way: int,
               shot: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One shot count's summary entry (mean +- 95% CI; clip-level too on video) and its per-episode
    rows, and the printed line."""
    accs = results.accuracies
    mean, ci = mean_ci95(accs)
    entry: dict[str, Any] = {"episodes": len(accs), "accuracy": mean, "ci95": ci, **pool_intervals(results, dataset)}
    clip = None
    if is_video(name) and dataset.groups is not None:  # groups are clips: clip-level accuracy too
        clip = results.group_accuracies(dataset.groups, clip_vote)
        entry["clip_accuracy"], entry["clip_ci95"] = mean_ci95(clip)
    rows = [{"shot": shot, "episode": e, "accuracy": a, **({"clip_accuracy": float(clip[e])} if clip is not None else {})}
            for e, a in enumerate(accs.tolist())]
    line = f"{way}-way {shot}-shot: {100 * mean:.2f} +- {100 * ci:.2f}% over {len(accs)} episodes"
    line += "; resampling the test pool: " + ", ".join(
        f"{what} {100 * entry[key][0]:.2f}-{100 * entry[key][1]:.2f}%" for what, key in
        (("faces", "face_bootstrap_ci95"), ("groups", "group_bootstrap_ci95")) if key in entry)
    if clip is not None:
        line += f"; clip-level {100 * entry['clip_accuracy']:.2f} +- {100 * entry['clip_ci95']:.2f}%"
    print(line)
    return entry, rows


def write_confusion(results: Any, dataset: FaceDataset, out: Path, title: str) -> None:
    """``confusion.csv`` and its chart over the classes present (rows true, columns predicted)."""
    confusion = results.confusion(len(dataset.class_names))
    present = [dataset.class_names.index(c) for c in dataset.present_classes()]
    matrix = confusion[present][:, present]
    names = [dataset.class_names[i] for i in present]
    write_csv(out / "confusion.csv", [{"true": names[i], **{n: int(matrix[i, j]) for j, n in enumerate(names)}}
                                      for i in range(len(names))])
    confusion_plot(matrix, names, out / "confusion.png", title)


if __name__ == "__main__":
    run_cli(main)
