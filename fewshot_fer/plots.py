"""Small PNG charts drawn with Pillow (no plotting library needed): accuracy versus shot, and a
confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from PIL import Image, ImageDraw

from episodes import atomic_open

INK, GRID, LINE = (30, 30, 30), (225, 225, 225), (31, 119, 180)


def save_png(image: Image.Image, path: str | Path) -> None:
    with atomic_open(path, "wb") as f:
        image.save(f, format="PNG")


def accuracy_plot(shots: Sequence[int], means: Sequence[float], cis: Sequence[float], path: str | Path,
                  title: str) -> None:
    """Mean accuracy (0..1) with its 95% CI as error bars, one point per shot count."""
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


def confusion_plot(matrix: torch.Tensor, names: Sequence[str], path: str | Path, title: str) -> None:
    """Row-normalised confusion matrix (row = true class) as a heat map with percentages."""
    n, cell, left, top = len(names), 56, 150, 60
    im = Image.new("RGB", (left + n * cell + 20, top + n * cell + 30), "white")
    d = ImageDraw.Draw(im)
    d.text((10, 10), title, fill=INK)
    rows = matrix.double() / matrix.sum(1, keepdim=True).clamp(min=1)
    for i in range(n):
        d.text((10, top + i * cell + cell // 2 - 6), names[i][:22], fill=INK)
        d.text((left + i * cell + 4, top - 16), names[i][:8], fill=INK)
        for j in range(n):
            v = float(rows[i, j])
            shade = int(255 - 200 * v)
            box = [left + j * cell, top + i * cell, left + (j + 1) * cell - 2, top + (i + 1) * cell - 2]
            d.rectangle(box, fill=(shade, shade, 255))
            d.text((box[0] + 10, box[1] + cell // 2 - 8), f"{100 * v:.0f}%", fill=INK if v < 0.6 else "white")
    save_png(im, path)
