import zlib
from collections import Counter

import pytest
import torch
from conftest import shared_data
from layouts import jpeg_bytes, write_official

from fewshot_fer.data import create_dataset
from fewshot_fer.data.rafdb import RAFDB_BASIC_IDS
from fewshot_fer.labels import BASIC, COMPOUND


def test_real_label_file_counts_labels_and_val_split(tmp_path):
    label_file = shared_data("layout-samples", "rafdb-basic", "EmoLabel", "list_patition_label.txt")
    lines = [ln for ln in label_file.read_text().splitlines() if ln.strip()]
    write_official(tmp_path / "basic", lines)
    sets = {s: create_dataset("rafdb-basic", s, tmp_path, image_size=16, cache_dir=tmp_path / "c")
            for s in ("train", "val", "test")}
    assert len(sets["train"]) + len(sets["val"]) == 12271 and len(sets["test"]) == 3068
    assert 0.13 < len(sets["val"]) / 12271 < 0.17
    assert not set(sets["train"].keys) & set(sets["val"].keys)
    # per-class counts against an independent reading of the label file
    for prefix, labels in (("test_", sets["test"].labels),
                           ("train_", torch.cat([sets["train"].labels, sets["val"].labels]))):
        expected = Counter(RAFDB_BASIC_IDS[int(ln.split()[1])] for ln in lines if ln.startswith(prefix))
        assert Counter(BASIC[i] for i in labels.tolist()) == expected
    # every image's grey value encodes the id on its label line: the mapping id -> name is right
    test = sets["test"]
    for name in ("surprise", "fear", "disgust", "happiness", "sadness", "anger", "neutral"):
        idx = (test.labels == BASIC.index(name)).nonzero()[0, 0]
        rafdb_id = next(k for k, v in RAFDB_BASIC_IDS.items() if v == name)
        assert abs(test.images[idx].float().mean().item() - 20 * rafdb_id) < 3
    assert test.keys[0] == "test_0001.jpg" and test.groups is None


def test_compound_partition_spelling_and_parent_root(tmp_path):
    lines = [f"train_{i:04d}.jpg {1 + i % 11}" for i in range(1, 45)] + [f"test_{i:04d}.jpg {1 + i % 11}" for i in range(1, 12)]
    write_official(tmp_path / "compound", lines, label_name="list_partition_label.txt")
    test = create_dataset("rafdb-compound", "test", tmp_path, image_size=16, cache_dir=tmp_path / "c")
    assert test.class_names == list(COMPOUND) and len(test) == 11
    assert test.class_names[test.labels[test.keys.index("test_0001.jpg")]] == COMPOUND[1]
    train = create_dataset("rafdb-compound", "train", tmp_path / "compound", image_size=16, cache_dir=tmp_path / "c")
    val_names = {f"train_{i:04d}.jpg" for i in range(1, 45) if zlib.crc32(f"train_{i:04d}".encode()) % 100 < 15}
    assert len(train) == 44 - len(val_names) and not val_names & set(train.keys)


def test_kaggle_layout(tmp_path):
    root = tmp_path / "kaggle"
    rows = {"train": [("train_00001_aligned.jpg", 4), ("train_00002_aligned.jpg", 1), ("train_00003_aligned.jpg", 7)],
            "test": [("test_0001_aligned.jpg", 6), ("test_0002_aligned.jpg", 3)]}
    for split, items in rows.items():
        lines = ["image,label"] + [f"{n},{lab}" for n, lab in items]
        root.mkdir(exist_ok=True)
        (root / f"{split}_labels.csv").write_text("\n".join(lines) + "\n")
        for n, lab in items:
            folder = root / "DATASET" / split / str(lab)
            folder.mkdir(parents=True, exist_ok=True)
            (folder / n).write_bytes(jpeg_bytes(30 * lab))
    test = create_dataset("rafdb-basic", "test", root, image_size=16, cache_dir=tmp_path / "c")
    assert test.keys == ["test_0001.jpg", "test_0002.jpg"]
    assert [test.class_names[i] for i in test.labels] == ["anger", "disgust"]
    train = create_dataset("rafdb-basic", "train", root, image_size=16, cache_dir=tmp_path / "c")
    val = create_dataset("rafdb-basic", "val", root, image_size=16, cache_dir=tmp_path / "c")
    assert sorted(train.keys + val.keys) == ["train_00001.jpg", "train_00002.jpg", "train_00003.jpg"]


def test_errors_name_the_path_and_what_was_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no RAF-DB label file under .*empty: expected EmoLabel/list_patition_label.txt"):
        (tmp_path / "empty").mkdir()
        create_dataset("rafdb-basic", "train", tmp_path / "empty")
    zipped = tmp_path / "zipped"
    (zipped / "EmoLabel").mkdir(parents=True)
    (zipped / "EmoLabel" / "list_patition_label.txt").write_text("train_00001.jpg 5\n")
    (zipped / "Image").mkdir()
    (zipped / "Image" / "aligned.zip").write_bytes(b"PK")
    with pytest.raises(FileNotFoundError, match=r"still zipped \(.*aligned.zip\); unpack it"):
        create_dataset("rafdb-basic", "train", zipped)
    partial = tmp_path / "partial"
    write_official(partial, [f"test_{i:04d}.jpg 1" for i in range(1, 6)])
    for i in (2, 4):
        (partial / "Image" / "aligned" / f"test_{i:04d}_aligned.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"2 of 5 RAF-DB basic test images are missing, first: \[.*test_0002_aligned.jpg"):
        create_dataset("rafdb-basic", "test", partial)
    bad = tmp_path / "bad"
    write_official(bad, ["test_0001.jpg 1"])
    (bad / "EmoLabel" / "list_patition_label.txt").write_text("test_0001.jpg 1\ntest_0002.jpg 9\n")
    with pytest.raises(ValueError, match=r"line 2 is 'test_0002.jpg 9'; expected '<name>.jpg <id>' with id in 1..7"):
        create_dataset("rafdb-basic", "test", bad)
    kaggle = tmp_path / "kaggle"
    kaggle.mkdir()
    (kaggle / "train_labels.csv").write_text("file,emotion\na.jpg,1\n")
    with pytest.raises(ValueError, match=r"has header \['file', 'emotion'\]; expected the columns image,label"):
        create_dataset("rafdb-basic", "train", kaggle)
