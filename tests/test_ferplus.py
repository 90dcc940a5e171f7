import numpy as np
import pytest
from conftest import shared_data
from PIL import Image

from fewshot_fer.data import create_dataset
from fewshot_fer.data.ferplus import majority_label

HEADER = "Usage,Image name,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF"
# (usage, image name, votes) -> expected label
HAND_ROWS = [
    ("Training", "fer0000000.png", [4, 0, 0, 1, 3, 2, 0, 0, 0, 0], "neutral"),
    ("Training", "fer0000001.png", [0, 0, 0, 0, 0, 0, 0, 6, 2, 2], "contempt"),
    ("Training", "fer0000002.png", [4, 0, 0, 4, 1, 0, 0, 0, 1, 0], None),  # tie
    ("Training", "", [0, 10, 0, 0, 0, 0, 0, 0, 0, 0], None),  # dropped by the FER+ authors
    ("Training", "fer0000004.png", [1, 1, 0, 0, 0, 0, 0, 0, 8, 0], None),  # unknown
    ("PublicTest", "fer0000005.png", [0, 0, 0, 0, 0, 0, 0, 0, 0, 10], None),  # not a face
    ("PublicTest", "fer0000006.png", [0, 0, 9, 0, 0, 0, 1, 0, 0, 0], "surprise"),
    ("PrivateTest", "fer0000007.png", [0, 0, 0, 0, 7, 3, 0, 0, 0, 0], "anger"),
]


def write_fer2013_csv(path, usages):
    """fer2013.csv whose row i is a uniform face of grey value i."""
    lines = ["emotion,pixels,Usage"] + [f"0,{' '.join([str(i)] * 2304)},{u}" for i, u in enumerate(usages)]
    path.write_text("\n".join(lines) + "\n")


def write_hand_layout(root):
    root.mkdir(parents=True, exist_ok=True)
    rows = [f"{u},{n},{','.join(map(str, v))}" for u, n, v, _ in HAND_ROWS]
    (root / "fer2013new.csv").write_text("\n".join([HEADER, *rows]) + "\n")


def test_majority_vote_by_hand():
    assert [majority_label(v) for _, _, v, _ in HAND_ROWS] == [
        "neutral", "contempt", None, "happiness", None, None, "surprise", "anger"]


def test_csv_join_by_row_position(tmp_path):
    write_hand_layout(tmp_path)
    write_fer2013_csv(tmp_path / "fer2013.csv", [u for u, *_ in HAND_ROWS])
    train = create_dataset("ferplus", "train", tmp_path)
    assert train.keys == ["row0", "row1"]
    assert [train.class_names[i] for i in train.labels] == ["neutral", "contempt"]
    assert train.images[1].float().mean().item() == 1  # row 1's face
    val = create_dataset("ferplus", "val", tmp_path)
    assert val.keys == ["row6"] and val.class_names[val.labels[0]] == "surprise"
    assert len(train.class_names) == 8 and train.class_names[-1] == "contempt"


def test_image_folder_layout(tmp_path):
    write_hand_layout(tmp_path)
    folders = {"Training": "FER2013Train", "PublicTest": "FER2013Valid", "PrivateTest": "FER2013Test"}
    for i, (usage, name, _, _) in enumerate(HAND_ROWS):
        if name:
            (tmp_path / folders[usage]).mkdir(exist_ok=True)
            Image.fromarray(np.full((48, 48), 10 * i, dtype=np.uint8)).save(tmp_path / folders[usage] / name)
    test = create_dataset("ferplus", "test", tmp_path, cache_dir=tmp_path.parent / "cache")
    assert test.keys == ["row7"] and test.class_names[test.labels[0]] == "anger"
    assert abs(test.images[0].float().mean().item() - 70) < 2


def test_real_label_file_rows(tmp_path):
    real = shared_data("layout-samples", "ferplus", "fer2013new.csv")
    lines = real.read_text().splitlines()[:201]
    (tmp_path / "fer2013new.csv").write_text("\n".join(lines) + "\n")
    write_fer2013_csv(tmp_path / "fer2013.csv", [ln.split(",")[0] for ln in lines[1:]])
    train = create_dataset("ferplus", "train", tmp_path)
    expected = {}
    for i, line in enumerate(lines[1:]):
        usage, name, *votes = line.split(",")
        votes = [int(v) for v in votes]
        best = max(range(10), key=lambda k: votes[k])
        if name and votes.count(votes[best]) == 1 and best < 8:
            expected[f"row{i}"] = HEADER.split(",")[2 + best]
    assert dict(zip(train.keys, (train.class_names[i] for i in train.labels))) == expected
    assert lines[4].startswith("Training,fer0000003.png,4,0,0,4") and "row3" not in train.keys  # a real tie


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"FER\+ label file .*fer2013new.csv not found"):
        create_dataset("ferplus", "train", tmp_path)
    (tmp_path / "fer2013new.csv").write_text("Usage,Image name,neutral,happy\n")
    with pytest.raises(ValueError, match=r"has header .*expected Usage,Image name,neutral,happiness"):
        create_dataset("ferplus", "train", tmp_path)
    write_hand_layout(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"expected fer2013.csv \(or icml_face_data.csv\), or the image folder .*FER2013Train"):
        create_dataset("ferplus", "train", tmp_path)
    write_fer2013_csv(tmp_path / "fer2013.csv", ["Training"] + ["PublicTest"] * (len(HAND_ROWS) - 1))
    with pytest.raises(ValueError, match=r"line 3 is a train face, but line 3 of .*fer2013.csv is not"):
        create_dataset("ferplus", "train", tmp_path)
