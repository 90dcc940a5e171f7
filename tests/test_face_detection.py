"""Face detection on the real photos of ../shared/data/photos (one face each): found in the photo,
in the photo pasted small into a larger canvas, and in the photo turned by 20 degrees, by each
detector (OpenCV's Haar cascade and MTCNN, both installed by the test extra); alignment by hand on
points and on the photos."""

import numpy as np
import pytest
from conftest import shared_data
from PIL import Image

from fewshot_fer.data.faces import FaceCropper

GREY = (120, 120, 120)


def photos():
    return sorted(shared_data("photos").glob("*.jpg"))


@pytest.mark.parametrize("detector", ["haar", "mtcnn"])
def test_one_face_per_photo_small_or_turned(detector):
    crop = FaceCropper(detector, image_size=48, channels=1)
    found = photos()
    assert len(found) == 4
    for path in found:
        im = Image.open(path).convert("RGB")
        x0, y0, x1, y1 = crop.face_box(np.asarray(im))
        assert min(x1 - x0, y1 - y0) > 0.5 * min(im.size), path.name  # a close-up: the face fills it
        face = crop(np.asarray(im))
        assert face.shape == (1, 48, 48) and face.std() > 15, path.name  # a face, not a flat patch

        small = im.resize((im.width // 2, im.height // 2))
        canvas = Image.new("RGB", (2 * im.width, 2 * im.height), GREY)
        at = (im.width, im.height // 3)
        canvas.paste(small, at)
        x0, y0, x1, y1 = crop.face_box(np.asarray(canvas))
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        assert at[0] <= cx <= at[0] + small.width and at[1] <= cy <= at[1] + small.height, path.name

        for angle in (-20, 20):
            turned = im.rotate(angle, expand=True, fillcolor=GREY)
            assert crop.face_box(np.asarray(turned)) is not None, f"{path.name} turned {angle} degrees"


@pytest.mark.parametrize("detector", ["haar", "mtcnn"])
def test_no_face_is_reported_not_cropped(detector):
    crop = FaceCropper(detector, align=True)
    assert crop.face_box(np.full((200, 200, 3), 120, np.uint8)) is None
    assert crop(np.full((200, 200, 3), 120, np.uint8)) is None


def test_without_opencv_images_and_videos_say_what_needs_it(monkeypatch, tmp_path):
    """OpenCV is an extra: without it, face detection on images and reading videos each say what
    needed it and the pip command, as one sentence (exit 2), never a traceback."""
    import sys

    from benchmarks.faults.fixtures import tiny_run
    from benchmarks.faults.runner import invoke
    from fewshot_fer.data.faces import read_video_frames
    from fewshot_fer.errors import MissingExtra

    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    with pytest.raises(MissingExtra, match=r"^face detection \(--face-detector\) needs OpenCV, which is not "
                                           r"installed: pip install 'fewshot-fer\[video\]'"):
        FaceCropper("haar")
    monkeypatch.setitem(sys.modules, "facenet_pytorch", None)
    with pytest.raises(MissingExtra, match=r"^--face-detector mtcnn needs facenet-pytorch, which is not installed: "
                                           r"pip install 'fewshot-fer\[video\]'"):
        FaceCropper("mtcnn")
    with pytest.raises(MissingExtra, match=r"^reading video \S*clip\.avi needs OpenCV"):
        read_video_frames(tmp_path.joinpath("clip.avi"), 4)
    (tmp_path / "s" / "a").mkdir(parents=True)
    (tmp_path / "s" / "b").mkdir()
    out = invoke(["predict", "--checkpoint", str(tiny_run() / "best.pt"), "--support", str(tmp_path / "s"),
                  "--input", str(tmp_path), "--detect-faces", "--output", str(tmp_path / "p.csv")])
    assert out.code == 2 and out.stderr.strip().startswith("error: face detection (--face-detector) needs OpenCV")


def test_alignment_transform_and_eye_pairing_by_hand():
    from fewshot_fer.data.faces import EYE_TEMPLATE, pick_eyes, similarity_transform

    eyes = np.asarray(EYE_TEMPLATE) * 100  # (35, 40), (65, 40) in a 100 px crop
    # eyes level, 20 px apart -> template eyes: scale 1.5, shift (20, 10)
    assert np.allclose(similarity_transform([(10, 20), (30, 20)], eyes), [[1.5, 0, 20], [0, 1.5, 10]])
    # eyes stacked vertically (a face turned 90 degrees): rotation by -90 degrees and scale 3
    m = similarity_transform([(0, 0), (0, 10)], eyes)
    assert np.allclose(m, [[0, 3, 35], [-3, 0, 40]]) and np.allclose(m @ [0, 10, 1], [65, 40])
    # least squares over four points that no similarity maps exactly: z = sum(conj(s) d) / sum |s|^2
    # = (2 + 2 + 1 + 1) / 4 = 1.5, no shift (both centred)
    src, dst = [(-1, 0), (1, 0), (0, 1), (0, -1)], [(-2, 0), (2, 0), (0, 1), (0, -1)]
    assert np.allclose(similarity_transform(src, dst), [[1.5, 0, 0], [0, 1.5, 0]])
    # five points moved by a known similarity (rotation 30 degrees, scale 2, shift (5, -3)) give it back
    a = np.deg2rad(30)
    known = np.array([[2 * np.cos(a), -2 * np.sin(a), 5], [2 * np.sin(a), 2 * np.cos(a), -3]])
    five = np.array([(30, 40), (70, 41), (50, 60), (35, 80), (66, 79)], float)
    assert np.allclose(similarity_transform(five, np.c_[five, np.ones(5)] @ known.T), known)
    with pytest.raises(ValueError, match="source points coincide"):
        similarity_transform([(3, 3), (3, 3)], eyes)
    # the largest box on each side of the centre line; one side empty -> no pair
    boxes = [(10, 20, 10, 10), (60, 22, 12, 12), (12, 50, 4, 4)]
    assert pick_eyes(boxes, 100) == ((15.0, 25.0), (66.0, 28.0))
    assert pick_eyes([(10, 20, 10, 10), (20, 20, 8, 8)], 100) is None


def test_alignment_makes_a_turned_face_match_the_upright_one():
    """On the real photos: the crops of a photo and of the same photo turned by 20 degrees are far
    apart unaligned and alike aligned (eyes level at the same points); a face whose eyes are not
    both found is cropped unaligned and counted."""
    plain, aligned = FaceCropper("haar", 64, 1), FaceCropper("haar", 64, 1, align=True)

    def corr(a, b):
        return float(np.corrcoef(a.astype(float).ravel(), b.astype(float).ravel())[0, 1])

    matched = 0
    for path in photos():
        im = Image.open(path).convert("RGB")
        turned = np.asarray(im.rotate(20, expand=True, fillcolor=GREY))
        before = aligned.aligned
        a, b = aligned(np.asarray(im)), aligned(turned)
        if aligned.aligned - before == 2:  # both orientations aligned
            assert corr(a, b) > 0.7 and corr(a, b) > corr(plain(np.asarray(im)), plain(turned)) + 0.3, path.name
            matched += 1
    assert matched >= 3 and aligned.aligned + aligned.unaligned == 8 and aligned.unaligned <= 2


def test_mtcnn_five_point_alignment_levels_the_eyes_of_turned_faces():
    """MTCNN finds the face in every photo turned by 20 degrees either way, and the five-point
    aligned crop puts the eyes level at the template's points: MTCNN run again on the aligned
    crop finds them there (within 4% of the crop), where the unaligned crop has them tilted."""
    from fewshot_fer.data.faces import EYE_TEMPLATE
    from fewshot_fer.data.mtcnn import MtcnnDetector

    size = 160
    aligned, plain, detect = FaceCropper("mtcnn", size, 3, align=True), FaceCropper("mtcnn", size, 3), MtcnnDetector()
    for path in photos():
        im = Image.open(path).convert("RGB")
        for angle in (-20, 0, 20):
            turned = np.asarray(im.rotate(angle, expand=True, fillcolor=GREY))
            crop = aligned(turned).transpose(1, 2, 0)
            _, points = detect(np.ascontiguousarray(crop))
            eyes = points[:2] / size
            assert abs(eyes[1, 1] - eyes[0, 1]) < 0.02, (path.name, angle, eyes)
            assert np.abs(eyes - np.asarray(EYE_TEMPLATE)).max() < 0.06, (path.name, angle, eyes)
            if angle:
                _, tilted = detect(np.ascontiguousarray(plain(turned).transpose(1, 2, 0)))
                assert abs(tilted[1, 1] - tilted[0, 1]) > 0.2 * abs(tilted[1, 0] - tilted[0, 0]), (path.name, angle)
    assert aligned.aligned == 12 and aligned.unaligned == 0


@pytest.mark.parametrize("flags", [["--face-detector", "haar"], ["--face-detector", "haar", "--align"],
                                   ["--face-detector", "mtcnn"], ["--face-detector", "mtcnn", "--align"]])
def test_predict_finds_one_face_in_each_photo(flags, tmp_path):
    """``predict --detect-faces`` as a user runs it on the four photos, with each detector: one row
    per photo, none of them "no face found"."""
    import csv
    import shutil

    from benchmarks.faults.fixtures import tiny_run
    from fewshot_fer.commands import predict

    support = tmp_path / "support"
    for name, path in zip(("first", "second"), photos()[:2]):
        (support / name).mkdir(parents=True)
        shutil.copy(path, support / name)
    out = tmp_path / "pred.csv"
    assert predict.main(["--checkpoint", str(tiny_run() / "best.pt"), "--support", str(support), "--input",
                         str(photos()[0].parent), "--detect-faces", *flags, "--output", str(out)]) == 0
    rows = list(csv.DictReader(open(out)))
    assert sorted(r["input"].rsplit("/", 1)[-1] for r in rows) == [p.name for p in photos()]
    assert all(r["prediction"] in ("first", "second") for r in rows), rows
