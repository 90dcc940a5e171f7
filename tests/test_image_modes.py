"""Every image mode decodes to the right 8-bit values (16-bit greyscale used to come out almost
white), and an oversized image is skipped with its size, not a traceback."""

import warnings

import numpy as np
import pytest
from PIL import Image

from fewshot_fer.data.cache import decode_image, load_images


def save(tmp_path, name, image):
    path = tmp_path / name
    image.save(path)
    return path


def test_16_bit_grey_png_keeps_its_grey_levels(tmp_path):
    values = np.array([[0, 32896], [65535, 16448]], dtype=np.uint16)  # 0, 128, 255 and 64 in 8 bits
    path = save(tmp_path, "g16.png", Image.fromarray(values))
    assert Image.open(path).mode.startswith("I")  # Pillow reads it as 16/32-bit integer greyscale
    assert decode_image(path, 2, 1)[0].tolist() == [[0, 128], [255, 64]]
    rgb = decode_image(path, 2, 3)
    assert (rgb[0] == rgb[1]).all() and rgb[0].tolist() == [[0, 128], [255, 64]]


def test_float_alpha_cmyk_and_palette_images(tmp_path):
    as_float = Image.fromarray(np.array([[0.0, 0.5], [1.0, 0.25]], dtype=np.float32), "F")
    assert decode_image(save(tmp_path, "f.tif", as_float), 2, 1)[0].tolist() == [[0, 128], [255, 64]]
    rgba = Image.new("RGBA", (2, 2), (0, 0, 0, 0))  # fully transparent black: white once composited
    rgba.putpixel((0, 0), (10, 20, 30, 255))
    out = decode_image(save(tmp_path, "a.png", rgba), 2, 3)
    assert out[:, 0, 0].tolist() == [10, 20, 30] and out[:, 1, 1].tolist() == [255, 255, 255]
    cmyk = Image.new("CMYK", (2, 2), (0, 0, 0, 0))  # no ink: white
    assert decode_image(save(tmp_path, "c.jpg", cmyk), 2, 1).min() >= 250
    palette = Image.fromarray(np.array([[0, 1], [1, 0]], dtype=np.uint8), "P")
    palette.putpalette([0, 0, 0, 200, 200, 200])
    assert decode_image(save(tmp_path, "p.png", palette), 2, 1)[0].tolist() == [[0, 200], [200, 0]]


def test_an_oversized_image_is_skipped_and_named(tmp_path, monkeypatch):
    good = save(tmp_path, "good.png", Image.new("L", (8, 8), 100))
    big = save(tmp_path, "big.png", Image.new("L", (64, 64), 100))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 64 x 64 is then over twice the limit: a "bomb"
    with pytest.raises(ValueError, match="big.png is too large to decode safely"):
        decode_image(big, 8, 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images, ok = load_images([good, big], 8, 1, cache_dir=tmp_path / "cache")
    assert ok.tolist() == [0] and len(images) == 1
    assert any("skipped 1 unreadable image" in str(w.message) for w in caught)
