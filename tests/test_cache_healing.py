"""The decoded-image cache checks itself: a damaged entry is named, moved aside and rebuilt; an
unwritable cache folder falls back to decoding in memory; ``data cache`` shows and clears it."""

import warnings

import numpy as np
import pytest
from PIL import Image

from fewshot_fer.datacheck import main as data_main
from fewshot_fer.data.cache import load_images


def faces(tmp_path, n=4):
    paths = []
    for i in range(n):
        path = tmp_path / "faces" / f"{i}.png"
        path.parent.mkdir(exist_ok=True)
        Image.new("L", (10, 10), 40 * i).save(path)
        paths.append(path)
    return paths


def load(paths, cache):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images, ok = load_images(paths, 8, 1, cache_dir=cache)
    return images, ok, [str(w.message) for w in caught]


def damage_truncate(npy, meta):
    npy.write_bytes(npy.read_bytes()[:40])


def damage_other_array(npy, meta):
    np.save(npy, np.zeros((2, 1, 8, 8), np.uint8))  # a valid array of another length


def damage_json(npy, meta):
    meta.write_text("{not json")


def damage_flip_a_pixel(npy, meta):
    array = np.load(npy)
    array[0, 0, 0, 0] ^= 1
    np.save(npy, array)


@pytest.mark.parametrize("damage", [damage_truncate, damage_other_array, damage_json, damage_flip_a_pixel])
def test_a_damaged_entry_is_named_moved_aside_and_rebuilt(tmp_path, damage):
    paths, cache = faces(tmp_path), tmp_path / "cache"
    good, ok, _ = load(paths, cache)
    (npy,) = cache.glob("*.npy")
    damage(npy, npy.with_suffix(".json"))
    again, ok2, messages = load(paths, cache)
    assert np.array_equal(again.numpy(), good.numpy()) and ok2.tolist() == ok.tolist()
    assert any(f"cache entry {npy} is damaged" in m and "moved aside" in m for m in messages), messages
    assert (cache / (npy.name + ".corrupt")).is_file()
    _, _, quiet = load(paths, cache)  # the rebuilt entry is good
    assert not quiet


def test_an_unwritable_cache_folder_falls_back_to_memory(tmp_path):
    paths = faces(tmp_path)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    images, ok, messages = load(paths, blocker / "cache")
    assert len(images) == 4 and ok.tolist() == [0, 1, 2, 3]
    assert any("cannot be written" in m and "decoding in memory" in m for m in messages), messages


def test_data_cache_shows_and_clears(tmp_path, capsys):
    paths, cache = faces(tmp_path), tmp_path / "cache"
    load(paths, cache)
    (cache / "x.npy.corrupt").write_bytes(b"old")
    (cache / "keep.txt").write_text("not ours")
    assert data_main(["cache", "--cache-dir", str(cache)]) == 0
    assert f"cache {cache}: 1 entries" in capsys.readouterr().out
    assert data_main(["cache", "--cache-dir", str(cache), "--clear"]) == 0
    assert f"cache {cache}: removed 3 files" in capsys.readouterr().out
    assert [p.name for p in cache.iterdir()] == ["keep.txt"]
