"""The one image-reading boundary (``fewshot_fer.data.images``): EXIF orientation applied wherever
an image enters, GIF and WebP read like the other formats, pipes never opened, non-UTF-8 names
reported by their escaped form, a pixel limit, and spreadsheet-safe prediction CSVs."""

import csv
import os
import sys

import numpy as np
import pytest
from conftest import shared_data
from PIL import Image

from benchmarks.faults.fixtures import tiny_run
from benchmarks.faults.runner import invoke
from fewshot_fer.data import images as boundary
from fewshot_fer.data.cache import decode_image, decode_image_rgb
from fewshot_fer.data.faces import FaceCropper

# what the stored pixels must undergo so that applying EXIF orientation N gives the upright photo
# back (the inverse of the transposition Pillow's exif_transpose applies for N)
STORE = {1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
         4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90,
         7: Image.Transpose.TRANSVERSE, 8: Image.Transpose.ROTATE_270}


def save_oriented(upright: Image.Image, path, orientation: int, **options) -> None:
    stored = upright if STORE[orientation] is None else upright.transpose(STORE[orientation])
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(path, exif=exif, **options)


def photos():
    return sorted(shared_data("photos").glob("*.jpg"))


def test_every_exif_orientation_decodes_to_the_upright_pixels(tmp_path):
    """Lossless files (PNG with an eXIf chunk): the decoded arrays equal the upright original's."""
    upright = Image.open(photos()[0]).convert("RGB")
    want_face, want_rgb = np.asarray(upright.convert("L").resize((48, 48), Image.BILINEAR)), np.asarray(upright)
    for orientation in STORE:
        path = tmp_path / f"o{orientation}.png"
        save_oriented(upright, path, orientation)
        assert Image.open(path).getexif().get(0x0112) == orientation
        assert np.array_equal(decode_image_rgb(path), want_rgb), orientation
        assert np.array_equal(decode_image(path, 48, 1)[0], want_face), orientation


def test_the_shared_photos_saved_exif_rotated_are_detected_and_predicted_as_upright(tmp_path):
    """The four real photos saved as JPEGs in all eight orientations: Haar finds the face in every
    one at the upright photo's place, and predict gives the upright photo's probabilities."""
    pytest.importorskip("cv2")
    cropper = FaceCropper("haar", 48, 1)
    (tmp_path / "in").mkdir()
    for photo in photos():
        upright = Image.open(photo).convert("RGB")
        reference = tmp_path / "in" / f"{photo.stem}-o1.jpg"
        save_oriented(upright, reference, 1, quality=100, subsampling=0)
        want = cropper.face_box(decode_image_rgb(reference))
        assert want is not None, photo.name
        for orientation in range(2, 9):
            path = tmp_path / "in" / f"{photo.stem}-o{orientation}.jpg"
            save_oriented(upright, path, orientation, quality=100, subsampling=0)
            box = cropper.face_box(decode_image_rgb(path))
            assert box is not None, (photo.name, orientation)
            assert max(abs(a - b) for a, b in zip(box, want)) <= 0.03 * (want[2] - want[0]), (photo.name, orientation)
    support = tmp_path / "support"
    for name, photo in zip(("a", "b"), photos()):
        (support / name).mkdir(parents=True)
        Image.open(photo).save(support / name / "face.jpg")
    out = invoke(["predict", "--checkpoint", str(tiny_run() / "best.pt"), "--support", str(support), "--input",
                  str(tmp_path / "in"), "--detect-faces", "--output", str(tmp_path / "p.csv")])
    assert out.code == 0, out.stderr
    rows = {r["input"].rsplit("-o", 1)[0] + "|" + r["input"][-5]: r for r in csv.DictReader(open(tmp_path / "p.csv"))}
    assert len(rows) == 32
    for photo in photos():
        base = str(tmp_path / "in" / photo.stem)
        for orientation in range(2, 9):
            got, want = rows[f"{base}|{orientation}"], rows[f"{base}|1"]
            assert got["prediction"] == want["prediction"], (photo.name, orientation)
            assert abs(float(got["p_a"]) - float(want["p_a"])) < 0.02, (photo.name, orientation)


def test_gif_and_webp_are_read_in_folders_and_by_name(tmp_path):
    frames = [Image.new("L", (20, 20), 90), Image.new("L", (20, 20), 250)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    Image.new("L", (20, 20), 90).save(tmp_path / "face.webp", lossless=True)
    assert int(decode_image(tmp_path / "anim.gif", 8, 1).mean()) == 90  # the first frame
    assert int(decode_image(tmp_path / "face.webp", 8, 1).mean()) == 90
    assert [p.name for p in boundary.list_files(tmp_path).files] == ["anim.gif", "face.webp"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes need a POSIX system")
def test_a_pipe_named_like_an_image_is_skipped_and_counted_never_opened(tmp_path):
    support = tmp_path / "support"
    for name, grey in (("a", 40), ("b", 200)):
        (support / name).mkdir(parents=True)
        Image.new("L", (48, 48), grey).save(support / name / "1.png")
    os.mkfifo(support / "a" / "pipe.jpg")  # opening it for reading would block forever
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.new("L", (48, 48), 60).save(inputs / "face.png")
    os.mkfifo(inputs / "stuck.jpg")
    out = invoke(["predict", "--checkpoint", str(tiny_run() / "best.pt"), "--support", str(support), "--input",
                  str(inputs), str(inputs / "stuck.jpg"), "--output", str(tmp_path / "p.csv")])
    assert out.code == 0, out.stderr
    assert "2 path(s) that are not regular files (pipes, devices, sockets, broken links) skipped" in out.stdout
    assert "not regular files (pipes, devices, sockets, broken links) skipped, first: " in out.stderr  # the support's pipe
    rows = list(csv.DictReader(open(tmp_path / "p.csv")))
    assert [r["prediction"] for r in rows if r["input"].endswith("stuck.jpg")] == ["skipped: not a regular file"] * 2
    with pytest.raises(ValueError, match=r"stuck\.jpg is not a regular file \(a pipe, device or socket\)"):
        decode_image(inputs / "stuck.jpg", 8, 1)


@pytest.mark.skipif(sys.platform != "linux", reason="file names of arbitrary bytes need Linux")
def test_a_file_name_that_is_not_utf8_is_read_and_reported_by_its_escaped_form(tmp_path):
    support = tmp_path / "support"
    for name, grey in (("a", 40), ("b", 200)):
        (support / name).mkdir(parents=True)
        Image.new("L", (48, 48), grey).save(support / name / "1.png")
    inputs = tmp_path / "in"
    inputs.mkdir()
    odd = os.fsdecode(bytes(inputs) + b"/caf\xe9.png")  # Latin-1 bytes, not UTF-8
    Image.new("L", (48, 48), 60).save(odd)
    open(os.fsdecode(bytes(inputs) + b"/bad\xff.jpg"), "wb").write(b"not an image")
    out = invoke(["predict", "--checkpoint", str(tiny_run() / "best.pt"), "--support", str(support), "--input",
                  str(inputs), "--output", str(tmp_path / "p.csv")])
    assert out.code == 0, out.stderr
    rows = {r["input"]: r["prediction"] for r in csv.DictReader(open(tmp_path / "p.csv", encoding="utf-8"))}
    assert rows[f"{inputs}/caf\\xe9.png"] in ("a", "b")
    assert rows[f"{inputs}/bad\\xff.jpg"].startswith(f"unreadable: {inputs}/bad\\xff.jpg is not an image file")


def test_an_image_over_the_pixel_limit_is_refused_by_a_sentence(tmp_path, monkeypatch):
    Image.new("L", (300, 200)).save(tmp_path / "big.png")
    monkeypatch.setattr(boundary, "MAX_PIXELS", 50_000)
    with pytest.raises(ValueError, match=r"^image \S+big\.png has 300 x 200 pixels, more than the limit of 50,000; "
                                         r"resize it first\.$"):
        decode_image(tmp_path / "big.png", 8, 1)


def test_support_folders_that_differ_only_in_case_or_spaces_are_refused(tmp_path):
    support = tmp_path / "support"
    for name in ("happy", "Happy ", "sad"):
        (support / name).mkdir(parents=True)
        Image.new("L", (48, 48), 99).save(support / name / "1.png")
    Image.new("L", (48, 48), 60).save(tmp_path / "x.png")
    out = invoke(["predict", "--checkpoint", str(tiny_run() / "best.pt"), "--support", str(support), "--input",
                  str(tmp_path / "x.png"), "--output", str(tmp_path / "p.csv")])
    assert out.code == 2
    assert out.stderr.strip() == ("error: support class folders 'Happy ' and 'happy' differ only in case or spaces; "
                                  "rename or merge them so each expression has one folder.")


def test_class_folders_read_as_one_expression_are_named_in_a_warning(tmp_path):
    from fewshot_fer.data import create_dataset

    for name in ("happy", "joy", "sad"):
        (tmp_path / "d" / name).mkdir(parents=True)
        for i in range(3):
            Image.new("L", (48, 48), 30 * i).save(tmp_path / "d" / name / f"{name}{i}.png")
    with pytest.warns(UserWarning, match=r"class folders read as one expression: 'happy', 'joy' -> happiness"):
        ds = create_dataset("folder", "all", tmp_path / "d", 48, 1, cache_dir=tmp_path / "cache")
    assert sorted(ds.class_names) == ["happiness", "sadness"]


def test_spreadsheet_formulas_in_class_names_are_escaped_in_the_predictions_csv(tmp_path):
    support = tmp_path / "support"
    for name, grey in (("=HYPERLINK(1)", 40), ("@SUM(2)", 200)):
        (support / name).mkdir(parents=True)
        Image.new("L", (48, 48), grey).save(support / name / "1.png")
    Image.new("L", (48, 48), 45).save(tmp_path / "x.png")
    out = invoke(["predict", "--checkpoint", str(tiny_run() / "best.pt"), "--support", str(support), "--input",
                  str(tmp_path / "x.png"), "--output", str(tmp_path / "p.csv")])
    assert out.code == 0, out.stderr
    header, row = list(csv.reader(open(tmp_path / "p.csv")))
    cells = dict(zip(header, row))
    assert not any(c.startswith(("=", "@", "+")) for c in header + row), (header, row)
    assert cells["prediction"] in ("'=HYPERLINK(1)", "'@SUM(2)")
    assert "p_=HYPERLINK(1)" in header  # a column name that starts with p_ is not a formula
