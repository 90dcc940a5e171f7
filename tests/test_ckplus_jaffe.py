"""CK+ (native and CK+48) and JAFFE loaders on tiny fixtures written in their exact layouts."""

import shutil

import numpy as np
import pytest
import torch
from conftest import shared_data
from PIL import Image

from fewshot_fer.data import create_dataset


def frame(path, value, size=(64, 49)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(size[::-1], value, dtype=np.uint8)).save(path)


def ckplus_native(root, subjects=12, labelled=(3.0, 7.0)):
    """S<n>/001 and /002 sequences of 5 frames; 001 carries an Emotion file, 002 does not."""
    for s in range(subjects):
        subject = f"S{100 + s:03d}"
        for seq in ("001", "002"):
            for k in range(1, 6):
                frame(root / "cohn-kanade-images" / subject / seq / f"{subject}_{seq}_{k:08d}.png", 10 * k + s)
        code = labelled[s % len(labelled)]
        emotion = root / "Emotion" / subject / "001" / f"{subject}_001_00000005_emotion.txt"
        emotion.parent.mkdir(parents=True, exist_ok=True)
        emotion.write_text(f"   {code:.7e}\n")
    return root


def test_ckplus_native_takes_the_peak_frames_and_counts_unlabelled_sequences(tmp_path):
    root = ckplus_native(tmp_path / "ck")
    with pytest.warns(UserWarning, match=r"12 CK\+ sequences have no Emotion file and were skipped"):
        every = create_dataset("ckplus", "all", root, image_size=24, face_detector="none", cache_dir=tmp_path / "c")
    assert len(every) == 12 * 3 and every.name == "ckplus"
    assert every.present_classes() == ["disgust", "surprise"]  # codes 3 and 7
    assert sorted(k.rsplit("_", 1)[1] for k in every.keys if k.startswith("cohn-kanade-images/S100/")) == [
        "00000003.png", "00000004.png", "00000005.png"]
    assert len(torch.unique(every.groups)) == 12
    with pytest.warns(UserWarning):
        one = create_dataset("ckplus", "all", root, image_size=24, face_detector="none", peak_frames=1,
                             neutral_first=True, cache_dir=tmp_path / "c")
    assert len(one) == 12 * 2 and one.present_classes() == ["disgust", "neutral", "surprise"]
    assert all(k.endswith("00000001.png") for k, y in zip(one.keys, one.labels) if one.class_names[y] == "neutral")
    with pytest.warns(UserWarning):
        splits = {s: create_dataset("ckplus", s, root, image_size=24, face_detector="none", cache_dir=tmp_path / "c")
                  for s in ("train", "val", "test")}
    seen = [set(k.split("/")[1] for k in d.keys) for d in splits.values()]
    assert sum(map(len, seen)) == 12 and not (seen[0] & seen[1] or seen[0] & seen[2] or seen[1] & seen[2])


def test_ckplus_errors_and_the_ck48_layout(tmp_path):
    root = ckplus_native(tmp_path / "ck", subjects=2)
    (root / "Emotion" / "S100" / "001" / "S100_001_00000005_emotion.txt").write_text("9\n")
    with pytest.raises(ValueError, match=r"S100_001_00000005_emotion.txt holds 9.0, not a CK\+ emotion code"):
        create_dataset("ckplus", "all", root, face_detector="none", cache_dir=tmp_path / "c")
    import shutil
    shutil.rmtree(root / "Emotion")
    with pytest.raises(FileNotFoundError, match="has cohn-kanade-images/ but no Emotion/ folder"):
        create_dataset("ckplus", "all", root, face_detector="none", cache_dir=tmp_path / "c")
    ck48 = tmp_path / "ck48"
    for s in range(6):
        for folder in ("anger", "happy", "sadness"):
            frame(ck48 / folder / f"S{10 + s:03d}_004_00000017.png", 30 * s, size=(48, 48))
    d = create_dataset("ckplus", "all", ck48, cache_dir=tmp_path / "c")  # no regex needed
    assert d.class_names == ["anger", "happiness", "sadness"] and len(torch.unique(d.groups)) == 6


def jaffe(root):
    codes = ["AN", "DI", "FE", "HA", "NE", "SA", "SU"]
    for s, subject in enumerate(("KA", "KL", "KM", "KR", "MK", "NA", "NM", "TM", "UY", "YM")):
        for c, code in enumerate(codes):
            path = root / "jaffedbase" / f"{subject}.{code}{c + 1}.{100 + 10 * s + c}.tiff"
            path.parent.mkdir(parents=True, exist_ok=True)
            im = Image.fromarray(np.full((32, 32), 20 * c + s, dtype=np.uint8))
            (im.convert("P") if c == 0 else im).save(path)  # some JAFFE files are palette TIFFs
    Image.fromarray(np.full((32, 32), 7, np.uint8)).save(root / "jaffedbase" / "KA.sa9.999.tif")  # lower case, .tif
    (root / "jaffedbase" / "README").write_text("not an image")
    return root


def test_jaffe_native_layout(tmp_path):
    root = jaffe(tmp_path / "jaffe")
    every = create_dataset("jaffe", "all", root, image_size=24, face_detector="none", cache_dir=tmp_path / "c")
    assert len(every) == 71 and len(torch.unique(every.groups)) == 10
    assert every.present_classes() == ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]
    k = every.keys.index("jaffedbase/KA.sa9.999.tif")
    assert every.class_names[every.labels[k]] == "sadness" and every.images[k].float().mean() == 7
    a = every.keys.index("jaffedbase/KL.AN1.110.tiff")  # a palette TIFF keeps its grey level
    assert every.images[a].float().mean() == 1
    (root / "jaffedbase" / "KA.XX1.1.tiff").write_bytes(b"")
    with pytest.raises(ValueError, match=r"holds TIFFs not named <subject>.<expression><n>.<id>.tiff .* 'KA.XX1.1.tiff'"):
        create_dataset("jaffe", "all", root, face_detector="none", cache_dir=tmp_path / "c")


def test_lab_frames_are_cropped_to_the_face(tmp_path):
    photo = sorted(shared_data("photos").glob("*.jpg"))[0]
    root = tmp_path / "ck"
    with Image.open(photo) as im:
        face = im.convert("L").resize((230, 350))
    for k in range(1, 4):
        canvas = Image.new("L", (640, 490), 200)
        canvas.paste(face, (300, 70))
        path = root / "cohn-kanade-images" / "S005" / "001" / f"S005_001_{k:08d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        canvas.save(path)
    (root / "Emotion" / "S005" / "001").mkdir(parents=True)
    (root / "Emotion" / "S005" / "001" / "S005_001_00000003_emotion.txt").write_text("5\n")
    d = create_dataset("ckplus", "all", root, image_size=48, cache_dir=tmp_path / "c")  # haar by default
    assert len(d) == 3 and d.class_names[d.labels[0]] == "happiness"
    assert d.images.float().std() > 20  # a face, not the flat background (200)
    # --align: a turned copy of the frames, aligned, matches the upright frames better than unaligned
    turned = tmp_path / "turned"
    for k in range(1, 4):
        src = root / "cohn-kanade-images" / "S005" / "001" / f"S005_001_{k:08d}.png"
        dst = turned / src.relative_to(root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        Image.open(src).rotate(20, fillcolor=200).save(dst)
    shutil.copytree(root / "Emotion", turned / "Emotion")

    def corr(a, b):
        return float(np.corrcoef(a.images.float().ravel(), b.images.float().ravel())[0, 1])

    upright_aligned = create_dataset("ckplus", "all", root, image_size=48, cache_dir=tmp_path / "c", align=True)
    turned_aligned = create_dataset("ckplus", "all", turned, image_size=48, cache_dir=tmp_path / "c", align=True)
    turned_plain = create_dataset("ckplus", "all", turned, image_size=48, cache_dir=tmp_path / "c")
    assert corr(upright_aligned, turned_aligned) > corr(d, turned_plain) + 0.2
