import warnings

import numpy as np
import pytest
import torch
from layouts import make_afew, write_avi
from PIL import Image

from fewshot_fer.data import create_dataset
from fewshot_fer.data.faces import even_indices

cv2 = pytest.importorskip("cv2", reason="the video tests need OpenCV (pip install -e '.[test]')")


def test_even_indices():
    assert even_indices(10, 5) == [1, 3, 5, 7, 9]
    assert even_indices(3, 8) == [0, 1, 2]
    assert even_indices(100, 4) == [12, 37, 62, 87]


def test_clips_frames_labels_groups_and_cache(tmp_path):
    root = make_afew(tmp_path / "afew")
    kw = dict(cache_dir=tmp_path / "cache", clip_frames=5, face_detector="none")
    train = create_dataset("afew", "train", root, **kw)
    assert len(train) == 6 * 5 and train.images.shape[1:] == (1, 48, 48)
    assert torch.bincount(train.groups).tolist() == [5] * 6  # every clip is a group of its frames
    for g in range(6):
        assert len(set(train.labels[train.groups == g].tolist())) == 1
    names = [train.class_names[i] for i in train.labels[::5]]
    assert names == ["anger", "anger", "happiness", "happiness", "surprise", "surprise"]
    assert train.keys[:2] == ["Train_AFEW/Angry/000000001#0", "Train_AFEW/Angry/000000001#1"]
    val = create_dataset("afew", "val", root, **kw)
    assert len(val) == 15 and "Val_AFEW/Angry/000000001#0" in val.keys  # same id, other split, other clip
    entries = sorted((tmp_path / "cache").glob("*.npy"))
    assert len(entries) == 2
    create_dataset("afew", "train", root, **kw)
    assert sorted((tmp_path / "cache").glob("*.npy")) == entries  # crops reused
    write_avi(root / "Train_AFEW" / "Happy" / "000000003.avi", "happiness", person=7, frames=12)
    create_dataset("afew", "train", root, **kw)
    assert len(list((tmp_path / "cache").glob("*.npy"))) == 3  # a changed clip is cropped again
    assert not list(root.rglob("*.npy"))


def test_haar_crops_faces_and_reports_clips_without_one(tmp_path):
    root = make_afew(tmp_path / "afew")
    write_avi(root / "Train_AFEW" / "Angry" / "000000099.avi", None)  # background only
    with pytest.warns(UserWarning, match=r"1 of 7 clips had no detected face .*Train_AFEW/Angry/000000099"):
        train = create_dataset("afew", "train", root, cache_dir=tmp_path / "c", clip_frames=4)
    assert len(torch.unique(train.groups)) == 6 and len(train) >= 6 * 3
    # the crops are faces, not background: far from the uniform grey 90 of the frame
    assert (train.images.float().std(dim=(1, 2, 3)) > 15).all()


def test_haar_missing_says_what_to_install(tmp_path, monkeypatch):
    root = make_afew(tmp_path / "afew")
    monkeypatch.delattr(cv2, "CascadeClassifier", raising=False)
    with pytest.raises(ValueError, match=r"has no Haar face detector .*opencv-python-headless<5.*--face-detector none"):
        create_dataset("afew", "train", root, cache_dir=tmp_path / "c")
    with pytest.raises(ValueError, match=r"--face-detector 'x.xml' is neither"):
        monkeypatch.setattr(cv2, "CascadeClassifier", object, raising=False)
        create_dataset("afew", "train", root, cache_dir=tmp_path / "c", face_detector="x.xml")


def test_pre_extracted_faces_folders(tmp_path):
    root = tmp_path / "afew"
    write_avi(root / "Train_AFEW" / "Happy" / "000000001.avi", "happiness")
    for k in range(6):  # Faces/<clip id>/ replaces the video's frames
        face = root / "Train_AFEW" / "Faces" / "000000001" / f"{k:03d}.png"
        face.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((64, 64), 200, dtype=np.uint8)).save(face)
    clip_dir = root / "Train_AFEW" / "Angry" / "000000002"  # a frame folder in place of the .avi
    clip_dir.mkdir(parents=True)
    for k in range(3):
        Image.fromarray(np.full((64, 64), 40, dtype=np.uint8)).save(clip_dir / f"{k}.png")
    train = create_dataset("afew", "train", root, cache_dir=tmp_path / "c", clip_frames=4, face_detector="none")
    by_clip = {train.keys[i].split("#")[0]: train.images[train.groups == train.groups[i]] for i in range(len(train))}
    assert by_clip["Train_AFEW/Happy/000000001"].shape[0] == 4
    assert (by_clip["Train_AFEW/Happy/000000001"] == 200).all()
    assert by_clip["Train_AFEW/Angry/000000002"].shape[0] == 3


def test_unreadable_clip_and_layout_errors(tmp_path):
    root = make_afew(tmp_path / "afew")
    (root / "Train_AFEW" / "Happy" / "000000050.avi").write_bytes(b"RIFF not a video")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        train = create_dataset("afew", "train", root, cache_dir=tmp_path / "c", clip_frames=2, face_detector="none")
    assert len(torch.unique(train.groups)) == 6
    assert any("skipped 1 unreadable clip" in str(w.message) for w in caught)
    with pytest.raises(ValueError, match=r"000000050.avi could not be read"):
        create_dataset("afew", "train", root, cache_dir=tmp_path / "c2", strict=True, face_detector="none")
    with pytest.raises(ValueError, match="no labels for its test split; use --split val"):
        create_dataset("afew", "test", root)
    (tmp_path / "zipped").mkdir()
    (tmp_path / "zipped" / "Val_AFEW.zip").write_bytes(b"PK")
    with pytest.raises(FileNotFoundError, match=r"expected .*Val_AFEW holding one folder per emotion .*Val_AFEW.zip is still zipped"):
        create_dataset("afew", "val", tmp_path / "zipped")
    write_avi(tmp_path / "odd" / "Train_AFEW" / "Bored" / "000000001.avi", "happiness")
    with pytest.raises(ValueError, match="class name 'Bored' maps to no expression"):
        create_dataset("afew", "train", tmp_path / "odd", face_detector="none")


def test_check_command_reports_clips_as_groups(tmp_path, capsys):
    from fewshot_fer.commands.data import main as data_main
    root = make_afew(tmp_path / "afew")
    code = data_main(["check", "--dataset", "afew", "--data-root", str(root), "--cache-dir", str(tmp_path / "c"),
                      "--clip-frames", "3", "--face-detector", "none"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "[train] 18 images, 3 classes, 6 groups" in out and "[val] 9 images, 3 classes, 3 groups" in out
    assert "[test]" not in out  # AFEW's test split has no public labels: not checked by default
    assert data_main(["check", "--dataset", "afew", "--data-root", str(root), "--splits", "test"]) == 1
    assert "[test] unusable: AFEW publishes no labels" in capsys.readouterr().out
