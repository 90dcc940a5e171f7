"""The decoded-image cache checks itself: a damaged entry is named, moved aside and rebuilt; an
unwritable cache folder falls back to decoding in memory; ``data cache`` shows and clears it."""

import os
import warnings

import numpy as np
import pytest
from PIL import Image

from benchmarks.faults.runner import invoke
from fewshot_fer.commands.data import main as data_main
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
    # a user's own files beside the cache, even ones named like cache files, are never deleted
    mine = {"x.npy.corrupt": b"old", "keep.txt": b"not ours", "results.json": b"{}", "embeddings.npy": b"\x93NUMPY"}
    for name, data in mine.items():
        (cache / name).write_bytes(data)
    assert data_main(["cache", "--cache-dir", str(cache)]) == 0
    assert f"cache {cache}: 1 entries" in capsys.readouterr().out
    assert data_main(["cache", "--cache-dir", str(cache), "--clear"]) == 0
    assert f"cache {cache}: removed 2 files" in capsys.readouterr().out
    assert {p.name: p.read_bytes() for p in cache.iterdir()} == mine


def test_clear_refuses_a_folder_that_is_not_a_cache_and_deletes_nothing(tmp_path):
    folder = tmp_path / "my-arrays"
    folder.mkdir()
    (folder / "features.npy").write_bytes(b"mine")
    (folder / "labels.json").write_text("[1, 2]")
    out = invoke(["data", "cache", "--cache-dir", str(folder), "--clear"])
    assert out.code == 2, out.stderr
    assert out.stderr.strip() == (f"error: {folder} is not a fewshot-fer cache (it holds no "
                                  f"fewshot-fer-cache.manifest); nothing was deleted. Name the cache folder with "
                                  f"--cache-dir.")
    assert sorted(p.name for p in folder.iterdir()) == ["features.npy", "labels.json"]


def test_a_replaced_image_of_the_same_size_and_mtime_is_decoded_again(tmp_path):
    from PIL import Image

    path = tmp_path / "face.png"
    Image.new("L", (48, 48), 40).save(path)
    stat = path.stat()
    first, _, _ = load([path], tmp_path / "cache")
    Image.new("L", (48, 48), 200).save(path)  # another picture, the same number of bytes
    assert path.stat().st_size == stat.st_size
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # and its old modification time
    second, _, _ = load([path], tmp_path / "cache")
    assert int(first[0].float().mean()) == 40 and int(second[0].float().mean()) == 200
