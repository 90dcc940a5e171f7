"""The charts of a run and an evaluation, drawn with matplotlib: accuracy versus shot, a
confusion matrix, and the training curves, each written as PNG and as SVG beside it (vector
text: class names stay searchable and sharp at any size). Figures are built without pyplot, so
no global state or display is touched."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, Sequence

import torch

from episodes import atomic_open


def _number(row: dict[str, Any], key: str) -> float | None:
    try:
        return float(row[key])
    except (KeyError, TypeError, ValueError):  # missing or empty cell (e.g. no validation)
        return None



def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(fig: Any, path: str | Path) -> None:
    """``path`` (PNG) and ``path`` with ``.svg``, each written atomically."""
    import matplotlib

    path = Path(path)
    for target, fmt in ((path, "png"), (path.with_suffix(".svg"), "svg")):
        buffer = io.BytesIO()
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "fewshot-fer"}):  # text as text; stable ids
            fig.savefig(buffer, format=fmt)
        with atomic_open(target, "wb") as f:
            f.write(buffer.getvalue())


def accuracy_plot(shots: Sequence[int], means: Sequence[float], cis: Sequence[float], path: str | Path,
                  title: str) -> None:
    fig = _figure(5.6, 3.8)
    ax = fig.add_subplot()
    ax.errorbar([str(s) for s in shots], [100 * m for m in means], yerr=[100 * c for c in cis], marker="o", capsize=4)
    for s, m in zip(shots, means):
        ax.annotate(f"{100 * m:.1f}", (str(s), 100 * m), textcoords="offset points", xytext=(6, 6))
    ax.set(title=title, xlabel="shots per class", ylabel="accuracy (%, mean +- 95% CI)")
    ax.grid(alpha=0.3)
    _save(fig, path)


def confusion_plot(matrix: torch.Tensor, names: Sequence[str], path: str | Path, title: str) -> None:
    rows = (matrix.double() / matrix.sum(1, keepdim=True).clamp(min=1)).numpy()
    n = len(names)
    fig = _figure(2.5 + 0.8 * n, 2.0 + 0.7 * n)
    ax = fig.add_subplot()
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), names, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(n), names)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, f"{100 * rows[i, j]:.0f}%", ha="center", va="center",
                    color="white" if rows[i, j] >= 0.6 else "black")
    ax.set(title=title, xlabel="predicted", ylabel="true")
    _save(fig, path)


def training_curves(rows: Sequence[dict[str, Any]], path: str | Path, title: str) -> None:
    """Loss (left) and train / validation accuracy (right) per epoch of a run's ``metrics.csv``
    rows, in order (a self-training run's rounds follow each other, separated by grey lines);
    a green line marks the epoch of the best validation accuracy."""
    if not rows:
        raise ValueError(f"no epochs to plot in {path}.")
    val = [_number(r, "val_acc") for r in rows]
    rounds = [i for i in range(1, len(rows)) if rows[i].get("round") != rows[i - 1].get("round")]
    scored = [i for i, v in enumerate(val) if v is not None]
    best = [max(scored, key=val.__getitem__)] if scored else []
    series = {"loss": [_number(r, "train_loss") for r in rows], "train": [_number(r, "train_acc") for r in rows],
              "validation": val}
    fig = _figure(9.6, 3.8)
    fig.suptitle(title)
    epochs = list(range(1, len(rows) + 1))
    loss_ax, acc_ax = fig.subplots(1, 2)
    for ax, keys in ((loss_ax, ("loss",)), (acc_ax, ("train", "validation"))):
        for key in keys:
            points = [(e, v if key == "loss" else 100 * v) for e, v in zip(epochs, series[key]) if v is not None]
            if points:
                ax.plot(*zip(*points), marker="o", markersize=3, label=key)
        for r in rounds:
            ax.axvline(r + 0.5, color="grey", linewidth=0.8)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    for b in best:
        acc_ax.axvline(b + 1, color="green", linewidth=1, label="best validation epoch")
    loss_ax.set_title("training loss")
    acc_ax.set_title("accuracy (%)")
    acc_ax.legend(loc="best", fontsize="small")
    _save(fig, path)
