import pytest
import torch

from fewshot_fer.data import create_dataset
from fewshot_fer.data.synthetic import (
    BASIC_PROTOTYPES,
    COMPOUND_PROTOTYPES,
    SyntheticConfig,
    make_synthetic,
    make_synthetic_clip,
)
from fewshot_fer.labels import BASIC, COMPOUND

SMALL = SyntheticConfig(train_identities=6, val_identities=3, test_identities=3, images_per_expression=2)


def test_shapes_labels_groups_and_determinism():
    a = make_synthetic("basic", "train", image_size=32, channels=1, seed=0, config=SMALL)
    b = make_synthetic("basic", "train", image_size=32, channels=1, seed=0, config=SMALL)
    c = make_synthetic("basic", "train", image_size=32, channels=1, seed=1, config=SMALL)
    assert a.images.shape == (6 * 7 * 2, 1, 32, 32) and a.images.dtype == torch.uint8
    assert torch.equal(a.images, b.images)
    assert not torch.equal(a.images, c.images)
    assert a.class_names == list(BASIC)
    assert torch.bincount(a.labels).tolist() == [12] * 7
    assert sorted(torch.unique(a.groups).tolist()) == list(range(6))
    assert len(set(a.keys)) == len(a)


def test_identity_pools_are_disjoint_across_splits_and_shared_across_kinds():
    groups = {s: set(make_synthetic("compound", s, 24, 1, config=SMALL).groups.tolist()) for s in ("train", "val", "test")}
    assert not groups["train"] & groups["val"] and not groups["val"] & groups["test"]
    assert not groups["train"] & groups["test"]
    basic_val = set(make_synthetic("basic", "val", 24, 1, config=SMALL).groups.tolist())
    assert basic_val == groups["val"]


def test_neutral_faces_of_one_person_look_alike_more_than_other_people():
    ds = make_synthetic("basic", "train", 32, 1, config=SMALL)
    neutral = ds.labels == BASIC.index("neutral")
    x = ds.images[neutral].float()
    g = ds.groups[neutral]
    same = (x[0] - x[1]).abs().mean() if g[0] == g[1] else None
    other = (x[0] - x[g != g[0]]).abs().mean()
    assert same is not None and same < other


def test_rgb_and_prototypes_cover_every_class():
    ds = make_synthetic("compound", "val", 24, 3, config=SMALL)
    assert ds.images.shape[1] == 3
    assert set(COMPOUND_PROTOTYPES) == set(COMPOUND) and set(BASIC_PROTOTYPES) == set(BASIC)
    # RGB faces are coloured: channels differ.
    assert (ds.images[:, 0].float() - ds.images[:, 2].float()).abs().mean() > 5


def test_clip_expression_rises_over_frames():
    clip = make_synthetic_clip("basic", "surprise", person=2, frames=8, image_size=32)
    assert clip.shape == (8, 1, 32, 32)
    start = (clip[1:].float() - clip[0].float()).abs().mean((1, 2, 3))
    assert start[-1] > start[0]  # the last frame is the furthest from the first


def test_registry_builds_datasets_and_subsets_classes():
    ds = create_dataset("synthetic-basic", "val", image_size=24, classes=["anger", "happiness"])
    assert ds.present_classes() == ["anger", "happiness"]


def test_dataset_episode_sampler_is_the_identity_disjoint_sampler_with_named_errors():
    from episodes import EpisodeSampler
    from fewshot_fer.data.base import FaceDataset

    labels = torch.arange(48) % 3
    groups = torch.arange(48) // 6  # 8 people, each with 2 faces of every class
    data = FaceDataset(torch.zeros(48, 1, 4, 4, dtype=torch.uint8), labels, ["calm", "glad", "sad"],
                       [f"k{i}" for i in range(48)], groups, name="tiny", split="val")
    direct = EpisodeSampler(labels, 2, 2, 3, groups=groups, seed=5, n_episodes=10)
    assert list(data.episode_sampler(2, 2, 3, seed=5, n_episodes=10)) == list(direct)
    with pytest.raises(ValueError, match=r"^validation episodes on tiny val: class 0 \(calm\) has items from "
                                         r"only 8 groups, fewer than k_shot \+ n_query = 4 \+ 5 = 9"):
        data.episode_sampler(2, 4, 5, "validation")


def test_a_split_asked_for_again_is_an_equal_copy_of_the_rendered_one():
    from fewshot_fer.data.synthetic import SyntheticConfig, make_synthetic, render_synthetic

    first = make_synthetic("compound", "val", image_size=20)
    again = make_synthetic("compound", "val", image_size=20)
    fresh = render_synthetic("compound", "val", 20, 1, 0, SyntheticConfig())
    assert torch.equal(first.images, fresh.images) and torch.equal(again.images, fresh.images)
    assert first.keys == fresh.keys and torch.equal(again.groups, fresh.groups)
    first.images[0] = 0  # a caller's change stays in its own copy
    assert torch.equal(make_synthetic("compound", "val", image_size=20).images, fresh.images)


def test_a_later_process_reads_the_split_from_the_cache_folder_bit_for_bit(tmp_path, monkeypatch):
    from fewshot_fer.data import synthetic
    from fewshot_fer.data.cache import cache_size

    monkeypatch.setattr(synthetic, "_rendered", {})  # as a new process: nothing rendered in memory
    first = make_synthetic("basic", "test", 20, cache_dir=tmp_path, config=SMALL)
    assert cache_size(tmp_path)[0] == 1
    monkeypatch.setattr(synthetic, "_rendered", {})
    render = synthetic.render_synthetic
    monkeypatch.setattr(synthetic, "render_synthetic", lambda *a: pytest.fail("rendered again"))
    read = make_synthetic("basic", "test", 20, cache_dir=tmp_path, config=SMALL)
    assert torch.equal(read.images, first.images) and torch.equal(read.labels, first.labels)
    assert read.keys == first.keys and torch.equal(read.groups, first.groups)
    assert (read.class_names, read.name, read.split) == (first.class_names, "synthetic-basic", "test")
    # another size, seed or configuration is an entry of its own
    monkeypatch.setattr(synthetic, "render_synthetic", render)
    make_synthetic("basic", "test", 24, cache_dir=tmp_path, config=SMALL)
    assert cache_size(tmp_path)[0] == 2
