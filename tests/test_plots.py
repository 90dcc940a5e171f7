"""Training curves: the picture every run directory gets beside its metrics.csv."""

import pytest
from PIL import Image

from fewshot_fer.plots import BEST, LINE, MARK, SECOND, training_curves


def colours(path):
    return {c for _, c in Image.open(path).convert("RGB").getcolors(1 << 20)}


def test_curves_draw_loss_train_and_validation_and_mark_the_best_epoch(tmp_path):
    rows = [{"epoch": 1, "train_loss": 1.2, "train_acc": 0.4, "val_acc": 0.35},
            {"epoch": 2, "train_loss": 0.9, "train_acc": 0.6, "val_acc": 0.50},
            {"epoch": 3, "train_loss": 0.7, "train_acc": 0.7, "val_acc": 0.45}]
    training_curves(rows, tmp_path / "c.png", "run")
    im = Image.open(tmp_path / "c.png").convert("RGB")
    assert im.size == (960, 380)
    assert {LINE, SECOND, BEST} <= colours(tmp_path / "c.png") and MARK not in colours(tmp_path / "c.png")
    # the accuracy panel spans x 540..940: epoch i of 3 sits at 540 + 400 * (i + 0.5) / 3;
    # the best validation epoch (2) gets a green vertical line there, epoch 1 does not
    best_x, first_x = round(540 + 400 * 1.5 / 3), round(540 + 400 * 0.5 / 3)
    column = [im.getpixel((best_x, y)) for y in range(75, 335)]
    assert column.count(BEST) > 100
    assert [im.getpixel((first_x, y)) for y in range(75, 335)].count(BEST) == 0


def test_curves_separate_rounds_and_accept_missing_validation(tmp_path):
    rows = [{"round": 0, "train_loss": 1.0, "train_acc": 0.5, "val_acc": ""},
            {"round": 1, "train_loss": 0.8, "train_acc": 0.6, "val_acc": ""}]
    training_curves(rows, tmp_path / "c.png", "self-training")
    im = Image.open(tmp_path / "c.png").convert("RGB")
    boundary = round(70 + (460 - 70) * 1.0 / 2)  # loss panel x 70..460: the line between epochs 1 and 2
    assert [im.getpixel((boundary, y)) for y in range(75, 335)].count(MARK) > 100
    assert SECOND not in colours(tmp_path / "c.png")  # no validation values, no validation line
    with pytest.raises(ValueError, match="no epochs to plot in"):
        training_curves([], tmp_path / "e.png", "empty")


def test_confusion_plot_keeps_full_class_names(tmp_path):
    import torch

    from fewshot_fer.plots import confusion_plot, header_lines

    assert header_lines("sadness-disgust") == ["sadness-", "disgust"]
    assert header_lines("happiness-surprise") == ["happiness-", "surprise"]
    assert header_lines("anger") == ["anger"] and header_lines("abcdefghijklm") == ["abcdefghij", "klm"]
    names = ["sadness-anger", "sadness-disgust", "sadness-fear", "sadness-surprise"]  # all "sadness-" when cut at 8
    confusion_plot(torch.eye(4, dtype=torch.long), names, tmp_path / "c.png", "compound")
    assert Image.open(tmp_path / "c.png").size == (150 + 4 * 64 + 20, 40 + 12 * 2 + 4 * 64 + 30)
