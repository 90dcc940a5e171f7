import pytest
import torch
from conftest import shared_data
from layouts import make_layout, write_face
from PIL import Image

from fewshot_fer.commands.data import main as data_main
from fewshot_fer.data import create_dataset
from fewshot_fer.labels import BASIC, canonical_name, parse_classes


def test_folder_layout_counts_labels_and_stray_files(tmp_path):
    make_layout(tmp_path / "fer")
    with pytest.warns(UserWarning, match="skipped 1 file.*augmented copies"):
        train = create_dataset("fer2013", "train", tmp_path / "fer", cache_dir=tmp_path / "cache")
    assert len(train) == 14 and train.groups is None
    assert torch.bincount(train.labels).tolist() == [2] * 7
    assert train.class_names == list(BASIC)
    # folder "happy" is canonical "happiness"; the image values written identify each file
    i = train.keys.index("train/happy/Training_106.jpg")
    assert train.class_names[train.labels[i]] == "happiness"
    assert abs(int(train.images[i].float().mean()) - 30) <= 1
    val = create_dataset("fer2013", "val", tmp_path / "fer", cache_dir=tmp_path / "cache")
    test = create_dataset("fer2013", "test", tmp_path / "fer", cache_dir=tmp_path / "cache")
    assert len(val) == len(test) == 7
    assert not any(p.suffix == ".npy" for p in (tmp_path / "fer").rglob("*"))  # never writes into data


def test_without_validation_folder_the_prefix_splits_test(tmp_path):
    make_layout(tmp_path / "fer", with_validation=False)
    val = create_dataset("fer2013", "val", tmp_path / "fer", cache_dir=tmp_path / "c")
    test = create_dataset("fer2013", "test", tmp_path / "fer", cache_dir=tmp_path / "c")
    assert all("PublicTest_" in k for k in val.keys) and len(val) == 7
    assert all("PrivateTest_" in k for k in test.keys) and len(test) == 7


def test_cache_is_reused_and_invalidated(tmp_path):
    make_layout(tmp_path / "fer")
    kw = dict(cache_dir=tmp_path / "cache")
    create_dataset("fer2013", "test", tmp_path / "fer", **kw)
    entries = sorted((tmp_path / "cache").glob("*.npy"))
    assert len(entries) == 1
    create_dataset("fer2013", "test", tmp_path / "fer", **kw)
    assert sorted((tmp_path / "cache").glob("*.npy")) == entries  # reused
    create_dataset("fer2013", "test", tmp_path / "fer", image_size=32, **kw)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 2  # another size, another entry
    target = tmp_path / "fer" / "test" / "sad" / "PrivateTest_305.jpg"
    write_face(target, 200)
    import os
    os.utime(target, ns=(1, 1))
    changed = create_dataset("fer2013", "test", tmp_path / "fer", **kw)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 3
    i = changed.keys.index("test/sad/PrivateTest_305.jpg")
    assert abs(int(changed.images[i].float().mean()) - 200) <= 1


def test_unreadable_image_is_skipped_or_stops_with_strict(tmp_path):
    make_layout(tmp_path / "fer")
    (tmp_path / "fer" / "test" / "fear" / "PrivateTest_302.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.warns(UserWarning, match="skipped 1 unreadable image"):
        test = create_dataset("fer2013", "test", tmp_path / "fer", cache_dir=tmp_path / "c")
    assert len(test) == 6
    with pytest.raises(ValueError, match=r"PrivateTest_302.jpg could not be decoded"):
        create_dataset("fer2013", "test", tmp_path / "fer", cache_dir=tmp_path / "c2", strict=True)


def test_layout_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        create_dataset("fer2013", "train", tmp_path / "missing")
    (tmp_path / "zipped").mkdir()
    (tmp_path / "zipped" / "archive.zip").write_bytes(b"PK")
    with pytest.raises(ValueError, match="holds only zip archives; unpack them first"):
        create_dataset("fer2013", "train", tmp_path / "zipped")
    (tmp_path / "flat").mkdir()
    with pytest.raises(FileNotFoundError, match="split 'train' not found under .*flat: expected one of the folders train"):
        create_dataset("fer2013", "train", tmp_path / "flat")
    write_face(tmp_path / "odd" / "train" / "bored" / "Training_1.jpg", 3)
    with pytest.raises(ValueError, match="class name 'bored' maps to no expression"):
        create_dataset("fer2013", "train", tmp_path / "odd")


def test_class_aliases():
    assert canonical_name("Angry") == "anger" and canonical_name("happy") == "happiness"
    assert parse_classes("angry, sad,surprised") == ["anger", "sadness", "surprise"]
    assert canonical_name("Happiness_Surprise") == "happiness-surprise"


def test_check_command_on_tiny_layout(tmp_path, capsys):
    make_layout(tmp_path / "fer")
    code = data_main(["check", "--dataset", "fer2013", "--data-root", str(tmp_path / "fer"),
                      "--cache-dir", str(tmp_path / "c")])
    out = capsys.readouterr().out
    assert code == 0
    assert "[train] 14 images, 7 classes, no group ids" in out
    assert "problem: skipped 1 file" in out
    assert data_main(["check", "--dataset", "fer2013", "--data-root", str(tmp_path / "none")]) == 1


def test_real_fer2013_counts(tmp_path):
    root = shared_data("fer2013")
    expected = {"train": [3995, 436, 4097, 7215, 4830, 3171, 4965],
                "val": [467, 56, 496, 895, 653, 415, 607],
                "test": [491, 55, 528, 879, 594, 416, 626]}
    for split, counts in expected.items():
        ds = create_dataset("fer2013", split, root, cache_dir=tmp_path / "cache")
        assert torch.bincount(ds.labels, minlength=7).tolist() == counts, split


@pytest.mark.parametrize("name, header", [("fer2013.csv", "emotion,pixels,Usage"),
                                          ("icml_face_data.csv", "emotion, Usage, pixels")])
def test_csv_layouts(tmp_path, name, header):
    cols = [h.strip() for h in header.split(",")]
    rows = [(3, "Training", 10), (0, "Training", 20), (6, "PublicTest", 30), (5, "PrivateTest", 40)]
    lines = [header]
    for emotion, usage, value in rows:
        values = {"emotion": str(emotion), "Usage": usage, "pixels": " ".join([str(value)] * 2304)}
        lines.append(",".join(values[c] for c in cols))
    (tmp_path / name).write_text("\n".join(lines) + "\n")
    train = create_dataset("fer2013", "train", tmp_path)
    assert [train.class_names[i] for i in train.labels] == ["happiness", "anger"]
    assert train.keys == ["row0", "row1"] and int(train.images[1].float().mean()) == 20
    test = create_dataset("fer2013", "test", tmp_path, image_size=32, cache_dir=tmp_path / "c")
    assert test.images.shape == (1, 1, 32, 32) and test.class_names[test.labels[0]] == "surprise"
    again = create_dataset("fer2013", "test", tmp_path, image_size=32, cache_dir=tmp_path / "c")  # from the cache
    assert torch.equal(again.images, test.images) and again.keys == test.keys and len(list((tmp_path / "c").glob("*.npy"))) == 1


def test_csv_with_wrong_header(tmp_path):
    (tmp_path / "fer2013.csv").write_text("label,image\n1,2\n")
    with pytest.raises(ValueError, match=r"has header \['label', 'image'\]; expected the columns emotion, pixels and Usage"):
        create_dataset("fer2013", "train", tmp_path)


def test_training_reads_decoded_tensors_and_never_decodes_an_image(tmp_path, monkeypatch):
    """Images are decoded once when the dataset loads; the training loop (sampling, collation,
    batched augmentation, steps) must not open a single file."""
    from pathlib import Path

    from fewshot_fer.models.build import build_model, model_config
    from fewshot_fer.training.trainer import EpisodicTrainer

    make_layout(tmp_path / "fer")
    with pytest.warns(UserWarning, match="augmented copies"):  # the layout holds one on purpose
        data = create_dataset("fer2013", "train", tmp_path / "fer", image_size=48, channels=1)

    def refuse(*args, **kwargs):
        raise AssertionError(f"an image was decoded in the training loop: {args}")

    monkeypatch.setattr(Image, "open", refuse)
    monkeypatch.setattr(Path, "read_bytes", refuse)
    config = model_config("protonet", "conv4", 1, 48)
    args = {"way": 3, "shot": 1, "query": 1, "seed": 0, "lr": 1e-3, "epochs": 1, "episodes_per_epoch": 4,
            "workers": 0, "augment": True}
    trainer = EpisodicTrainer(build_model(config), config, args, tmp_path / "run", data, data, [], torch.device("cpu"))
    assert trainer.train_epoch() > 0
    assert trainer.state.seen == 4
