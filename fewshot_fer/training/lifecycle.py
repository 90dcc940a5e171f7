"""One run lifecycle for every training command (``train``, ``pretrain``, ``selftrain``): start
or resume, the run directory's ``args.yaml`` / ``environment.yaml`` / fixed validation episodes,
the TensorBoard writer, and the checkpoint layout.

Every checkpoint a training command writes holds ``command`` (which one wrote it), ``model``,
``model_config``, ``args`` (the run's settings) and ``progress`` (the command's resume record:
epoch or round reached, best validation score, per-epoch history; ``train`` adds its position
inside an epoch), plus ``optimizer`` where resuming needs it. ``best.pt`` and ``last.pt`` are
written by ``checkpoint.save_run_checkpoints``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

from ..errors import excerpt
from .checkpoint import load_run_checkpoint
from .rundir import environment, new_run_dir, write_yaml

if TYPE_CHECKING:
    from .recipes import Recipe


@dataclass
class RunStart:
    """What a training command starts from: its settings, and for ``--resume`` the run directory
    and its ``last.pt`` (``checkpoint["progress"]`` is where to go on)."""

    settings: dict[str, Any]
    checkpoint: dict[str, Any] | None = None
    run_dir: Path | None = None


def begin_run(recipe: "Recipe", typed: Iterable[str] = (), resolve: Callable[["Recipe"], dict[str, Any]] | None = None,
              ) -> RunStart:
    """New run: ``resolve(recipe)`` (default: ``recipe.settings()``) is the run's settings.
    ``recipe.run.resume``: the run's own settings from its ``last.pt``, checked against the recipe
    (a checkpoint is a file from outside too), with the settings in ``recipe.resumable`` that were
    ``typed`` replacing theirs; another typed setting that differs from the run's is refused in one
    sentence, never silently ignored."""
    if not recipe.run.resume:
        return RunStart((resolve or type(recipe).settings)(recipe))
    run_dir = Path(recipe.run.resume)
    checkpoint = load_run_checkpoint(run_dir, recipe.command)
    settings = dict(checkpoint["args"])
    type(recipe).build((f"--resume {run_dir}: the settings in its last.pt", settings), lenient=True)
    wanted = recipe.settings()
    typed = set(typed) - {"resume", "config"}
    for key in typed & recipe.resumable:
        settings[key] = wanted[key]
    changed = sorted(k for k in typed - recipe.resumable if wanted[k] != settings.get(k))
    if changed:
        raise ValueError(f"--resume {run_dir} keeps the run's own settings, and "
                         + ", ".join(f"--{k.replace('_', '-')} {excerpt(wanted[k], 30)} differs from its "
                                     f"{excerpt(settings.get(k), 30)}" for k in changed)
                         + f"; only {', '.join('--' + k.replace('_', '-') for k in sorted(recipe.resumable))} may "
                           f"change when resuming: drop the others or start a new run.")
    settings["resume"] = str(run_dir)
    return RunStart(settings, checkpoint, run_dir)


def create_run(settings: dict[str, Any], parts: Sequence[str], val_episodes: Callable[[Path], None] | None = None) -> Path:
    """A new run directory (``--output``/``--name``, or ``parts`` + a timestamp) holding the
    settings (``args.yaml``, which ``--config`` accepts to repeat the run), the software versions
    (``environment.yaml``) and, through ``val_episodes(run_dir)``, the fixed validation episodes."""
    run_dir = new_run_dir(settings["output"], settings["name"], parts)
    write_yaml(run_dir / "args.yaml", settings)
    write_yaml(run_dir / "environment.yaml", environment())
    if val_episodes is not None:
        val_episodes(run_dir)
    return run_dir


def tensorboard_writer(run_dir: Path, purge_step: int | None = None) -> Any:
    """TensorBoard's writer for ``run_dir``; ``purge_step`` (resuming) drops events logged after
    the checkpoint, so replayed steps are not drawn twice."""
    from torch.utils.tensorboard import SummaryWriter  # imported late: it is slow to import

    return SummaryWriter(log_dir=str(run_dir), purge_step=purge_step)


def fit_to_the_end(loop: Any, writer: Any, settings: dict[str, Any], log: Callable[[str], None]) -> Any:
    """``loop.fit()`` with the TensorBoard ``writer`` closed however it ends; says when patience
    stopped the run before its last epoch. Returns the loop's final state."""
    try:
        state = loop.fit()
    finally:
        if writer is not None:
            writer.close()
    if state.epoch < settings["epochs"]:
        log(f"stopped after epoch {state.epoch}: no better validation accuracy in {settings['patience']} epochs")
    return state
