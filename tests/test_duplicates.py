"""Exact duplicates: found by pixel hash, reported by data check, left out of evaluation."""

import json
import shutil

import numpy as np
import torch
from PIL import Image

from fewshot_fer.commands import evaluate
from fewshot_fer.commands.data import main as data_main
from fewshot_fer.data.duplicates import find_duplicates
from fewshot_fer.models.build import build_model, model_config
from fewshot_fer.weights import save_checkpoint


def test_find_duplicates_by_hand():
    images = torch.zeros(5, 1, 2, 2, dtype=torch.uint8)
    images[1] = 7  # items 1 and 3 identical, 0, 2 and 4 identical (all zeros)
    images[3] = 7
    labels = torch.tensor([0, 1, 0, 2, 1])
    report = find_duplicates(images, labels)
    assert sorted(report.groups) == [[0, 2, 4], [1, 3]]
    assert report.copies == 3
    assert sorted(report.conflicting) == [[0, 2, 4], [1, 3]]  # labels 0/0/1 and 1/2
    assert find_duplicates(images[:2], labels[:2]).groups == []


def write_noise(path, seed):
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (48, 48), dtype=np.uint8)
    Image.fromarray(pixels).save(path)


def make_layout(root):
    """FER2013 folders, 6 distinct faces per class and split for two classes; then planted copies:
    one test face and one validation face copy training faces, two training faces copy each other
    under different labels."""
    seed = 0
    for split, prefix in (("train", "Training"), ("validation", "PublicTest"), ("test", "PrivateTest")):
        for folder in ("happy", "sad"):
            for k in range(6):
                seed += 1
                write_noise(root / split / folder / f"{prefix}_{seed}.jpg", seed)
    shutil.copy(root / "train/happy/Training_1.jpg", root / "test/happy/PrivateTest_900.jpg")
    shutil.copy(root / "train/sad/Training_7.jpg", root / "validation/sad/PublicTest_901.jpg")
    shutil.copy(root / "train/happy/Training_2.jpg", root / "train/sad/Training_902.jpg")


def test_data_check_reports_planted_copies(tmp_path, capsys):
    make_layout(tmp_path / "fer")
    assert data_main(["check", "--dataset", "fer2013", "--data-root", str(tmp_path / "fer"),
                      "--cache-dir", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    assert "[train] 13 images" in out
    assert "1 groups of identical images (1 copies), 1 of them with conflicting labels" in out
    assert "1 images are exact copies of train images" in out  # once for val, once for test
    assert out.count("exact copies of") == 2
    assert "[all splits] 3 groups of identical images, 1 with conflicting labels" in out


def test_evaluation_leaves_out_copies_of_training_faces(tmp_path):
    make_layout(tmp_path / "fer")
    config = model_config("protonet", "conv4", 1, 48)
    torch.manual_seed(0)
    save_checkpoint({"model": build_model(config).state_dict(), "model_config": config}, tmp_path / "m.pt")
    common = ["--checkpoint", str(tmp_path / "m.pt"), "--dataset", "fer2013", "--data-root", str(tmp_path / "fer"),
              "--cache-dir", str(tmp_path / "cache"), "--way", "2", "--shot", "1", "--query", "5", "--episodes", "3"]
    assert evaluate.main([*common, "--output", str(tmp_path / "a")]) == 0
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["duplicates_left_out"] == 1 and summary["duplicates_compared_with"] == ["train", "val"]
    episodes = json.loads((tmp_path / "a" / "episodes.json").read_text())["episodes"]
    assert not any("PrivateTest_900.jpg" in key for e in episodes for key in e)
    assert evaluate.main([*common, "--keep-duplicates", "--output", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["duplicates_left_out"] == 0
