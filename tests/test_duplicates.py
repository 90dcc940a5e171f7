"""Duplicates: exact ones found by pixel hash, near ones by perceptual hash; reported by data check,
left out of evaluation."""

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
    # a near copy: a training face made brighter and re-encoded; and a test face copied inside the test split
    face = np.asarray(Image.open(root / "train/sad/Training_8.jpg"), dtype=np.int16)
    Image.fromarray(np.clip(face * 0.8 + 30, 0, 255).astype(np.uint8)).save(root / "test/sad/PrivateTest_903.jpg",
                                                                            quality=80)
    shutil.copy(root / "test/sad/PrivateTest_31.jpg", root / "test/sad/PrivateTest_904.jpg")


def test_data_check_reports_planted_copies(tmp_path, capsys):
    make_layout(tmp_path / "fer")
    assert data_main(["check", "--dataset", "fer2013", "--data-root", str(tmp_path / "fer"),
                      "--cache-dir", str(tmp_path / "cache")]) == 0
    out = capsys.readouterr().out
    assert "[train] 13 images" in out
    assert "1 groups of identical images (1 copies), 1 of them with conflicting labels" in out
    assert "1 images are exact copies of train images" in out  # once for val, once for test
    assert out.count("exact copies of") == 2
    assert "1 more images are near copies of train images (perceptual hash within 4 bits" in out
    assert out.count("near copies of") == 1
    assert "[all splits] 4 groups of identical images, 1 with conflicting labels" in out


def test_evaluation_leaves_out_copies_of_training_faces(tmp_path):
    make_layout(tmp_path / "fer")
    config = model_config("protonet", "conv4", 1, 48)
    torch.manual_seed(0)
    save_checkpoint({"model": build_model(config).state_dict(), "model_config": config}, tmp_path / "m.pt")
    common = ["--checkpoint", str(tmp_path / "m.pt"), "--dataset", "fer2013", "--data-root", str(tmp_path / "fer"),
              "--cache-dir", str(tmp_path / "cache"), "--way", "2", "--shot", "1", "--query", "5", "--episodes", "3"]
    assert evaluate.main([*common, "--output", str(tmp_path / "a")]) == 0
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["duplicates_left_out"] == 3 and summary["duplicates_compared_with"] == ["train", "val"]
    assert (summary["exact_copies_of_other_splits"], summary["near_copies_of_other_splits"],
            summary["copies_within_the_split"], summary["near_threshold_bits"]) == (1, 1, 1, 4)
    episodes = json.loads((tmp_path / "a" / "episodes.json").read_text())["episodes"]
    assert not any(name in key for e in episodes for key in e for name in ("_900.jpg", "_903.jpg", "_904.jpg"))
    assert evaluate.main([*common, "--keep-duplicates", "--output", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "summary.json").read_text())["duplicates_left_out"] == 0



def test_perceptual_hashes_by_hand_and_their_invariances():
    from fewshot_fer.data.near_duplicates import dct_matrix, hamming, nearest_distances, perceptual_hashes

    basis = dct_matrix(4)
    assert torch.allclose(basis @ basis.T, torch.eye(4, dtype=torch.float64), atol=1e-12)  # orthonormal
    a, b = torch.tensor([0b1011, -1]), torch.tensor([0b0001, 0])
    assert hamming(a, b).tolist() == [[2, 3], [63, 64]]
    faces = torch.from_numpy(np.random.default_rng(3).integers(0, 256, (3, 1, 48, 48), dtype=np.uint8))
    brighter = (faces[:1].float() * 0.7 + 40).round().to(torch.uint8)  # contrast and brightness: the same signs
    shifted = torch.roll(faces[:1], 1, dims=-1)
    hashes = perceptual_hashes(torch.cat([faces, brighter, shifted]))
    assert int(hashes[0] & 1) == 0  # the constant coefficient carries no bit
    d = hamming(hashes[:1], hashes)[0].tolist()
    assert d[0] == 0 and d[3] <= 2 and d[1] > 16 and d[2] > 16
    dist, where = nearest_distances(hashes[3:4], hashes[:3])
    assert where.tolist() == [0] and dist.tolist() == [d[3]]


def test_copies_within_a_split_count_across_people_only_where_people_are_known():
    from fewshot_fer.data.base import FaceDataset
    from fewshot_fer.data.duplicates import copies_within

    noise = torch.from_numpy(np.random.default_rng(4).integers(0, 256, (3, 1, 48, 48), dtype=np.uint8))
    brighter = (noise[:1].float() * 0.8 + 30).round().to(torch.uint8)
    images = torch.cat([noise, noise[:1], brighter])  # item 3 copies item 0; item 4 is a near copy of it
    labels, keys = torch.zeros(5, dtype=torch.long), [str(i) for i in range(5)]
    anonymous = FaceDataset(images, labels, ["anger"], keys)
    assert copies_within(anonymous).tolist() == [False, False, False, True, False]  # exact only
    assert copies_within(anonymous, 4).tolist() == [False, False, False, True, True]
    same_person = FaceDataset(images, labels, ["anger"], keys, groups=torch.tensor([0, 1, 2, 0, 0]))
    assert copies_within(same_person, 4).tolist() == [False] * 5  # one person's faces stay on one side of an episode
    other_person = FaceDataset(images, labels, ["anger"], keys, groups=torch.tensor([0, 1, 2, 3, 0]))
    assert copies_within(other_person, 4).tolist() == [False, False, False, True, False]


def test_data_check_counts_no_negative_near_copies_when_a_person_repeats_a_photo(capsys):
    """An exact copy within one person (lfw-expressions' Avinash_30 in two class folders) is an
    identical group, but no copy that evaluation leaves out: the near-copy count stays 0, not -1."""
    from fewshot_fer.commands.data import report_duplicates
    from fewshot_fer.data.base import FaceDataset

    noise = torch.from_numpy(np.random.default_rng(5).integers(0, 256, (3, 1, 48, 48), dtype=np.uint8))
    images = torch.cat([noise, noise[:1]])
    ds = FaceDataset(images, torch.tensor([0, 1, 1, 1]), ["anger", "fear"], list("abcd"),
                     groups=torch.tensor([0, 1, 2, 0]), split="all")
    report_duplicates(ds, [], 4)
    out = capsys.readouterr().out
    assert "1 groups of identical images (1 copies), 1 of them with conflicting labels" in out
    assert "near copies" not in out
