"""Training curves: the picture every run directory gets beside its metrics.csv; the confusion
matrix and accuracy-versus-shot charts of an evaluation. Pillow's drawings are checked pixel by
pixel; matplotlib's (the plots extra, installed by the test extra) as PNG + SVG with full names."""

import pytest
from PIL import Image


@pytest.fixture(autouse=True)
def pillow(request, monkeypatch):
    if "matplotlib" not in request.node.name:
        monkeypatch.setenv("FEWSHOT_FER_PLOTS", "pillow")

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


def test_matplotlib_draws_png_and_svg_with_full_class_names(tmp_path, monkeypatch):
    import torch

    from fewshot_fer.plots import accuracy_plot, confusion_plot, training_curves

    monkeypatch.setenv("FEWSHOT_FER_PLOTS", "matplotlib")
    names = ["sadness-anger", "sadness-disgust", "happiness-surprise"]
    confusion_plot(torch.tensor([[3, 1, 0], [0, 4, 0], [1, 0, 3]]), names, tmp_path / "c.png", "compound")
    svg = (tmp_path / "c.svg").read_text()
    assert all(f">{n}<" in svg for n in names) and ">75%<" in svg and ">100%<" in svg  # rows normalised
    assert Image.open(tmp_path / "c.png").format == "PNG"
    accuracy_plot([1, 5], [0.4, 0.55], [0.02, 0.01], tmp_path / "a.png", "shots")
    assert ">55.0<" in (tmp_path / "a.svg").read_text() and (tmp_path / "a.png").stat().st_size > 1000
    rows = [{"round": 0, "train_loss": 1.0, "train_acc": 0.5, "val_acc": 0.4},
            {"round": 1, "train_loss": 0.8, "train_acc": 0.6, "val_acc": 0.45}]
    training_curves(rows, tmp_path / "t.png", "self-training")
    curves = (tmp_path / "t.svg").read_text()
    assert ">best validation epoch<" in curves and ">validation<" in curves
    monkeypatch.setenv("FEWSHOT_FER_PLOTS", "seaborn")
    with pytest.raises(ValueError, match="FEWSHOT_FER_PLOTS must be auto, pillow or matplotlib, got 'seaborn'"):
        accuracy_plot([1], [0.4], [0.1], tmp_path / "x.png", "x")
