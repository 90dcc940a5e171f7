"""Training curves: the picture every run directory gets beside its metrics.csv; the confusion
matrix and accuracy-versus-shot charts of an evaluation. Drawn by matplotlib as PNG + SVG; the
SVG keeps its text, so the labels and figures are checked in it."""

import pytest
import torch
from PIL import Image

from fewshot_fer.evaluation.plots import accuracy_plot, confusion_plot, training_curves


def test_curves_draw_loss_train_and_validation_and_mark_the_best_epoch(tmp_path):
    rows = [{"epoch": 1, "train_loss": 1.2, "train_acc": 0.4, "val_acc": 0.35},
            {"epoch": 2, "train_loss": 0.9, "train_acc": 0.6, "val_acc": 0.50},
            {"epoch": 3, "train_loss": 0.7, "train_acc": 0.7, "val_acc": 0.45}]
    training_curves(rows, tmp_path / "c.png", "run")
    assert Image.open(tmp_path / "c.png").size == (960, 380)
    svg = (tmp_path / "c.svg").read_text()
    assert all(f">{label}<" in svg for label in ("training loss", "train", "validation", "best validation epoch"))


def test_curves_separate_rounds_and_accept_missing_validation(tmp_path):
    rows = [{"round": 0, "train_loss": 1.0, "train_acc": 0.5, "val_acc": ""},
            {"round": 1, "train_loss": 0.8, "train_acc": 0.6, "val_acc": ""}]
    training_curves(rows, tmp_path / "c.png", "self-training")
    svg = (tmp_path / "c.svg").read_text()
    assert ">validation<" not in svg and ">best validation epoch<" not in svg  # nothing scored, nothing drawn
    with pytest.raises(ValueError, match="no epochs to plot in"):
        training_curves([], tmp_path / "e.png", "empty")


def test_confusion_and_accuracy_charts_keep_full_names_and_figures(tmp_path):
    names = ["sadness-anger", "sadness-disgust", "happiness-surprise"]
    confusion_plot(torch.tensor([[3, 1, 0], [0, 4, 0], [1, 0, 3]]), names, tmp_path / "c.png", "compound")
    svg = (tmp_path / "c.svg").read_text()
    assert all(f">{n}<" in svg for n in names) and ">75%<" in svg and ">100%<" in svg  # rows normalised
    assert Image.open(tmp_path / "c.png").format == "PNG"
    accuracy_plot([1, 5], [0.4, 0.55], [0.02, 0.01], tmp_path / "a.png", "shots")
    assert ">55.0<" in (tmp_path / "a.svg").read_text() and (tmp_path / "a.png").stat().st_size > 1000
