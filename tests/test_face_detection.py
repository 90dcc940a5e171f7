"""Face detection on the real photos of ../shared/data/photos (one face each): found in the photo,
in the photo pasted small into a larger canvas, and in the photo turned by 20 degrees."""

import numpy as np
import pytest
from PIL import Image

from fewshot_fer.data.faces import FaceCropper

from conftest import shared_data

GREY = (120, 120, 120)


def photos():
    return sorted(shared_data("photos").glob("*.jpg"))


@pytest.mark.parametrize("detector", ["haar"])
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


def test_no_face_is_reported_not_cropped():
    crop = FaceCropper("haar")
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
    with pytest.raises(MissingExtra, match=r"^reading video \S*clip\.avi needs OpenCV"):
        read_video_frames(tmp_path.joinpath("clip.avi"), 4)
    (tmp_path / "s" / "a").mkdir(parents=True)
    (tmp_path / "s" / "b").mkdir()
    out = invoke(["predict", "--checkpoint", str(tiny_run() / "best.pt"), "--support", str(tmp_path / "s"),
                  "--input", str(tmp_path), "--detect-faces", "--output", str(tmp_path / "p.csv")])
    assert out.code == 2 and out.stderr.strip().startswith("error: face detection (--face-detector) needs OpenCV")


def test_eye_alignment_transform_and_pairing_by_hand():
    from fewshot_fer.data.faces import pick_eyes, similarity_from_eyes

    # eyes level, 20 px apart -> template (35, 40), (65, 40) in a 100 px crop: scale 1.5, shift (20, 10)
    assert np.allclose(similarity_from_eyes((10, 20), (30, 20), 100), [[1.5, 0, 20], [0, 1.5, 10]])
    # eyes stacked vertically (a face turned 90 degrees): rotation by -90 degrees and scale 3
    m = similarity_from_eyes((0, 0), (0, 10), 100)
    assert np.allclose(m, [[0, 3, 35], [-3, 0, 40]]) and np.allclose(m @ [0, 10, 1], [65, 40])
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
