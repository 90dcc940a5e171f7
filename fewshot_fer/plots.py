"""The charts of a run and an evaluation: accuracy versus shot, a confusion matrix, and the
training curves. With matplotlib installed (``pip install 'fewshot-fer[plots]'``) they are drawn
by it as PNG plus SVG (``plots_matplotlib``); otherwise Pillow draws a PNG (no plotting library
needed). ``FEWSHOT_FER_PLOTS=pillow`` or ``=matplotlib`` chooses explicitly."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import torch
from PIL import Image, ImageDraw

from episodes import atomic_open

INK, GRID, LINE = (30, 30, 30), (225, 225, 225), (31, 119, 180)
SECOND, MARK, BEST = (255, 127, 14), (150, 150, 150), (44, 160, 44)


def drawer() -> Any:
    """The matplotlib module of drawers, or ``None`` for Pillow (``FEWSHOT_FER_PLOTS``: auto by default)."""
    choice = os.environ.get("FEWSHOT_FER_PLOTS", "auto")
    if choice not in ("auto", "pillow", "matplotlib"):
        raise ValueError(f"FEWSHOT_FER_PLOTS must be auto, pillow or matplotlib, got {choice!r}.")
    if choice == "pillow":
        return None
    try:
        from . import plots_matplotlib
        import matplotlib  # noqa: F401
    except ImportError:
        if choice == "matplotlib":
            from .errors import MissingExtra
            raise MissingExtra("FEWSHOT_FER_PLOTS=matplotlib needs matplotlib, which is not installed: "
                               "pip install 'fewshot-fer[plots]'.") from None
        return None
    return plots_matplotlib


def save_png(image: Image.Image, path: str | Path) -> None:
    with atomic_open(path, "wb") as f:
        image.save(f, format="PNG")


def accuracy_plot(shots: Sequence[int], means: Sequence[float], cis: Sequence[float], path: str | Path,
                  title: str) -> None:
    """Mean accuracy (0..1) with its 95% CI as error bars, one point per shot count."""
    if (mpl := drawer()) is not None:
        return mpl.accuracy_plot(shots, means, cis, path, title)
    w, h, left, right, top, bottom = 560, 380, 60, 20, 40, 50
    im = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(im)
    d.text((left, 12), title, fill=INK)
    lo = max(0.0, min(m - c for m, c in zip(means, cis)) - 0.05)
    hi = min(1.0, max(m + c for m, c in zip(means, cis)) + 0.05)
    span = max(hi - lo, 1e-6)

    def xy(i: int, value: float) -> tuple[float, float]:
        x = left + (w - left - right) * (i + 0.5) / len(shots)
        return x, top + (h - top - bottom) * (hi - value) / span

    for k in range(6):
        v = lo + span * k / 5
        y = xy(0, v)[1]
        d.line([(left, y), (w - right, y)], fill=GRID)
        d.text((8, y - 6), f"{100 * v:.0f}%", fill=INK)
    points = [xy(i, m) for i, m in enumerate(means)]
    d.line(points, fill=LINE, width=2)
    for i, (m, c) in enumerate(zip(means, cis)):
        x, y = points[i]
        d.line([xy(i, m - c), xy(i, m + c)], fill=LINE, width=1)
        d.ellipse([x - 4, y - 4, x + 4, y + 4], fill=LINE)
        d.text((x - 12, h - bottom + 10), f"{shots[i]}-shot", fill=INK)
        d.text((x + 6, y - 14), f"{100 * m:.1f}", fill=INK)
    save_png(im, path)


def header_lines(name: str, width: int = 10) -> list[str]:
    """A class name broken for a narrow column: at hyphens (``happiness-`` / ``surprise``), then
    every ``width`` characters, so no name is cut short."""
    parts = [p + "-" for p in name.split("-")[:-1]] + [name.split("-")[-1]]
    return [part[i:i + width] for part in parts for i in range(0, len(part), width)]


def confusion_plot(matrix: torch.Tensor, names: Sequence[str], path: str | Path, title: str) -> None:
    """Row-normalised confusion matrix (row = true class) as a heat map with percentages; full
    class names (column headers broken over lines)."""
    if (mpl := drawer()) is not None:
        return mpl.confusion_plot(matrix, names, path, title)
    headers = [header_lines(name) for name in names]
    n, cell = len(names), 64  # ten characters of the default font
    left = max(150, 10 + 6 * max(len(name) for name in names) + 10)
    top = 40 + 12 * max(len(h) for h in headers)
    im = Image.new("RGB", (left + n * cell + 20, top + n * cell + 30), "white")
    d = ImageDraw.Draw(im)
    d.text((10, 10), title, fill=INK)
    rows = matrix.double() / matrix.sum(1, keepdim=True).clamp(min=1)
    for i in range(n):
        d.text((10, top + i * cell + cell // 2 - 6), names[i], fill=INK)
        for k, line in enumerate(headers[i]):
            d.text((left + i * cell + 4, top - 6 - 12 * (len(headers[i]) - k)), line, fill=INK)
        for j in range(n):
            v = float(rows[i, j])
            shade = int(255 - 200 * v)
            box = [left + j * cell, top + i * cell, left + (j + 1) * cell - 2, top + (i + 1) * cell - 2]
            d.rectangle(box, fill=(shade, shade, 255))
            d.text((box[0] + 10, box[1] + cell // 2 - 8), f"{100 * v:.0f}%", fill=INK if v < 0.6 else "white")
    save_png(im, path)


def _number(row: dict[str, Any], key: str) -> float | None:
    try:
        return float(row[key])
    except (KeyError, TypeError, ValueError):  # missing or empty cell (e.g. no validation)
        return None


def _panel(d: ImageDraw.ImageDraw, box: tuple[int, int, int, int], title: str,
           series: Sequence[tuple[str, Sequence[float | None], tuple[int, int, int]]], percent: bool,
           rounds: Sequence[int], best: Sequence[int] = ()) -> None:
    """Line chart of ``series`` (label, one value or None per epoch, colour) inside ``box``; grey
    vertical lines between epoch ``i - 1`` and ``i`` for ``i`` in ``rounds`` (a new round starts),
    green ones through the epochs in ``best``."""
    x0, y0, x1, y1 = box
    d.text((x0, y0 - 28), title, fill=INK)
    values = [v for _, ys, _ in series for v in ys if v is not None]
    n = max(len(ys) for _, ys, _ in series)
    if not values:
        d.text((x0, y0), "no values", fill=INK)
        return
    lo, hi = min(values), max(values)
    pad = max(hi - lo, 1e-6) * 0.08
    lo, hi = lo - pad, hi + pad

    def xy(i: float, v: float) -> tuple[float, float]:
        return x0 + (x1 - x0) * (i + 0.5) / n, y1 - (y1 - y0) * (v - lo) / (hi - lo)

    for k in range(5):
        v = lo + (hi - lo) * k / 4
        y = xy(0, v)[1]
        d.line([(x0, y), (x1, y)], fill=GRID)
        d.text((x0 - 48, y - 6), f"{100 * v:.1f}%" if percent else f"{v:.3f}", fill=INK)
    for i, colour in [*((r - 0.5, MARK) for r in rounds), *((b, BEST) for b in best)]:
        x = xy(i, lo)[0]
        d.line([(x, y0), (x, y1)], fill=colour)
    step = max(1, n // 10)
    for i in range(0, n, step):
        d.text((xy(i, lo)[0] - 4, y1 + 6), str(i + 1), fill=INK)
    for j, (label, ys, colour) in enumerate(series):
        points = [xy(i, v) for i, v in enumerate(ys) if v is not None]
        if len(points) > 1:
            d.line(points, fill=colour, width=2)
        for x, y in points:
            d.ellipse([x - 2, y - 2, x + 2, y + 2], fill=colour)
        d.text((x0 + 110 * j, y0 - 14), label, fill=colour)


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
    if (mpl := drawer()) is not None:
        series = {"loss": [_number(r, "train_loss") for r in rows], "train": [_number(r, "train_acc") for r in rows],
                  "validation": val}
        return mpl.training_curves(rows, path, title, series, rounds, best)
    w, h = 960, 380
    im = Image.new("RGB", (w, h), "white")
    d = ImageDraw.Draw(im)
    d.text((10, 8), title, fill=INK)
    _panel(d, (70, 70, w // 2 - 20, h - 40), "training loss", [("loss", [_number(r, "train_loss") for r in rows], LINE)],
           False, rounds)
    _panel(d, (w // 2 + 60, 70, w - 20, h - 40),
           "accuracy (green: best validation epoch" + (", grey: rounds)" if rounds else ")"),
           [("train", [_number(r, "train_acc") for r in rows], LINE), ("validation", val, SECOND)], True,
           rounds, best)
    d.text((w // 2 - 30, h - 18), "epoch", fill=INK)
    save_png(im, path)
