"""How the harness turns a row's settings into checked command settings, and scores a model on a
protocol's fixed episodes (test, or the validation episodes that give a row its deciding figure)
through the Python API, keeping a score whose inputs are unchanged (``score_cache``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

from fewshot_fer import api
from fewshot_fer.api import raising_parser
from fewshot_fer.commands import evaluate
from fewshot_fer.commands.cli import config_tokens, explicit_flags

from .protocol import data_settings, training_name
from .score_cache import cached_summary, remember, score_key
from .tables import pool_columns

APPENDED = ("learner_option", "backbone_option")  # flags that accumulate: settings of several sources add up


def merged(*parts: dict[str, Any]) -> dict[str, Any]:
    """Settings dicts in order, later values winning, ``APPENDED`` lists concatenated."""
    out: dict[str, Any] = {}
    for part in parts:
        for key, value in part.items():
            out[key] = [*(out.get(key) or []), *value] if key in APPENDED and value else value
    return out


def flag_settings(command: Any, flags: Sequence[Any] | Mapping[str, Any]) -> dict[str, Any]:
    """A row's settings for ``command``, as the settings they set, checked by the command's recipe
    (or parser): a mapping of setting names, flat or grouped (``{learner_option: [distance=cosine],
    optim: {lr: 0.0005}}``), or a flag list (``[--learner-option, distance=cosine, --lr, 0.0005]``)."""
    parser = raising_parser(command.build_parser)
    recipe = getattr(command, "RECIPE", None)
    if isinstance(flags, Mapping):
        if recipe is not None:  # each value checked alone: the protocol supplies the datasets options apply to
            return dict(sorted(recipe.check_settings(flags, f"the row's {command.__name__.rsplit('.', 1)[-1]} "
                                                            f"settings").items()))
        flags = config_tokens(parser, "the row's evaluation settings", dict(flags))
    argv = [str(f) for f in flags]
    if recipe is not None:  # a training command: its parser holds the typed flags only, checked by the recipe
        return dict(sorted(recipe.check_settings(vars(parser.parse_args(argv)), f"flags {argv}").items()))
    for action in parser._actions:  # only the flags given are read: --checkpoint comes from the harness
        action.required = False
    values = vars(parser.parse_args(argv))
    return {key: values[key] for key in sorted(explicit_flags(parser, argv))}


def score_on_target(protocol: dict[str, Any], checkpoint: Path | list[Path], roots: dict[str, str], episodes_file: Path,
                    result_dir: Path, keep_duplicates: bool = False,
                    eval_flags: Sequence[str] | Mapping[str, Any] = (), commit: str = "unknown",
                    where: str = "target") -> dict[str, Any]:
    """Evaluate ``checkpoint`` on the protocol's fixed episodes of its ``target`` split (or, with
    ``where="select"``, of the validation split that selects, for the figure that decided a row's
    options) through the Python API, or keep the score already in ``result_dir`` when nothing that
    decides it changed (``score_cache``); its figures as table columns, and the commit that scored
    it (``commit``, this run's)."""
    target, ev = protocol[where], protocol["eval"]
    settings = {"dataset": target["dataset"], **data_settings(target, roots), "split": target["split"],
                "way": ev["way"], "shot": ev["shot"], "query": ev["query"], "episodes": ev["episodes"],
                "episodes_file": str(episodes_file), "output": str(result_dir), "keep_duplicates": keep_duplicates,
                **({"clip_vote": str(ev["clip_vote"])} if ev.get("clip_vote") else {})}
    settings = merged(settings, flag_settings(evaluate, eval_flags))
    paths = checkpoint if isinstance(checkpoint, list) else [checkpoint]
    key = score_key(paths, settings, episodes_file)
    cached = cached_summary(result_dir, key)
    if cached:
        summary, scored_on = cached
        print(f"kept the score in {result_dir}: same checkpoints, settings, episodes and code (scored on {scored_on[:10]})")
    else:
        summary, scored_on = api.evaluate(checkpoint, **settings).summary, commit
        remember(result_dir, key, commit, episodes_file)
    score = summary["shots"][str(ev["shot"])]
    return {"_fresh": not cached, "_pool": summary.get("pool"), "scored_on": scored_on, "accuracy": score["accuracy"],
            "ci95": score["ci95"], **pool_columns(score), "episodes": score["episodes"],
            "query": summary["query"], "duplicates_left_out": summary.get("duplicates_left_out", 0),
            "clip_accuracy": score.get("clip_accuracy", ""), "clip_ci95": score.get("clip_ci95", "")}


def deciding_validation(protocol: dict[str, Any], checkpoint: Path | list[Path], roots: dict[str, str], out: Path,
                        name: str, keep_duplicates: bool, eval_flags: Any, commit: str) -> dict[str, Any]:
    """The row's accuracy on the fixed validation episodes of the split that selects (its own
    test-time options included): the figure its options were chosen on, never the test split."""
    training = protocol.get("_training") or protocol
    score = score_on_target(training, checkpoint, roots, out / "episodes" / f"{training_name(protocol)}-val.json",
                            out / f"val-{training_name(protocol)}" / name.replace(" ", "-"), keep_duplicates,
                            eval_flags, commit, where="select")
    return {"val_deciding": score["accuracy"], "val_deciding_ci95": score["ci95"]}
