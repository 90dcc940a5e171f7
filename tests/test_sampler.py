import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from episodes import EpisodeCollate, EpisodeSampler, largest_query


def toy(n_classes=5, per_class=12, n_groups=None):
    labels = torch.arange(n_classes).repeat_interleave(per_class)
    groups = None if n_groups is None else torch.arange(len(labels)) % n_groups
    return labels, groups


def test_layout_support_then_query_class_major():
    labels, _ = toy()
    s = EpisodeSampler(labels, n_way=3, k_shot=2, n_query=4, seed=1, n_episodes=5)
    for idx in s:
        assert len(idx) == 3 * (2 + 4)
        lab = labels[idx]
        support, query = lab[:6], lab[6:]
        classes = support[::2]
        assert len(set(classes.tolist())) == 3
        assert torch.equal(support, classes.repeat_interleave(2))
        assert torch.equal(query, classes.repeat_interleave(4))
        assert len(set(idx)) == len(idx)  # no item twice


def test_same_seed_same_episodes_and_other_seed_differs():
    labels, _ = toy()
    a = list(EpisodeSampler(labels, 3, 2, 4, seed=7, n_episodes=10))
    b = list(EpisodeSampler(labels, 3, 2, 4, seed=7, n_episodes=10))
    c = list(EpisodeSampler(labels, 3, 2, 4, seed=8, n_episodes=10))
    assert a == b
    assert a != c


def test_epochs_differ_and_skip_resumes_inside_an_epoch():
    labels, _ = toy()
    s = EpisodeSampler(labels, 3, 2, 4, seed=0, n_episodes=6)
    s.set_epoch(0)
    first = list(s)
    s.set_epoch(1)
    second = list(s)
    assert first != second
    s.set_epoch(1, skip=4)
    assert len(s) == 2
    assert list(s) == second[4:]


def test_groups_disjoint_between_support_and_query():
    labels, groups = toy(n_classes=4, per_class=40, n_groups=20)
    s = EpisodeSampler(labels, 4, 3, 5, groups=groups, seed=3, n_episodes=30)
    for idx in s:
        g = groups[idx]
        support_groups, query_groups = set(g[:12].tolist()), set(g[12:].tolist())
        assert not support_groups & query_groups
        for c in range(4):  # within a class, every item from another group
            cls = g[[i for i in range(len(idx)) if labels[idx[i]] == labels[idx][c * 3]]]
            assert len(set(cls.tolist())) == len(cls)


class Items(Dataset):
    def __init__(self, labels):
        self.labels = labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return torch.full((1, 2, 2), float(i)), int(self.labels[i])


def test_same_episodes_whatever_the_number_of_workers():
    labels, _ = toy()
    out = []
    for workers in (0, 2):
        sampler = EpisodeSampler(labels, 3, 1, 2, seed=5, n_episodes=4)
        loader = DataLoader(Items(labels), batch_sampler=sampler, num_workers=workers,
                            collate_fn=EpisodeCollate(3, 1, 2))
        out.append([torch.cat([e.support_x, e.query_x]).flatten().tolist() for e in loader])
    assert out[0] == out[1]


@pytest.mark.parametrize("kwargs, message", [
    (dict(n_way=6, k_shot=1, n_query=1), "n_way=6 is larger than the number of classes in the data (5: 0, 1, 2, 3, 4)"),
    (dict(n_way=2, k_shot=5, n_query=8), "class 0 has 12 items, fewer than k_shot + n_query = 5 + 8 = 13"),
    (dict(n_way=0, k_shot=1, n_query=1), "n_way must be a positive integer, got 0"),
    (dict(n_way=2, k_shot=-1, n_query=1), "k_shot must be a positive integer, got -1"),
    (dict(n_way=2, k_shot=1, n_query=0), "n_query must be a positive integer, got 0"),
])
def test_impossible_requests_raise_before_work(kwargs, message):
    labels, _ = toy()
    with pytest.raises(ValueError) as err:
        EpisodeSampler(labels, **kwargs)
    assert message in str(err.value)


def test_too_few_groups_in_a_class_is_named():
    labels, _ = toy(n_classes=3, per_class=12)
    groups = torch.arange(len(labels)) % 4  # each class holds items of 4 groups only
    with pytest.raises(ValueError, match=r"class 0 has items from only 4 groups, fewer than k_shot \+ n_query = 2 \+ 3 = 5"):
        EpisodeSampler(labels, 2, 2, 3, groups=groups)
    with pytest.raises(ValueError, match=r"class 0 \(calm\) has items from only 4 groups"):
        EpisodeSampler(labels, 2, 2, 3, groups=groups, label_names=["calm", "glad", "sad"])
    with pytest.raises(ValueError, match=r"classes in the data \(3: 0 \(calm\), 1 \(glad\), 2 \(sad\)\)"):
        EpisodeSampler(labels, 4, 1, 1, label_names=["calm", "glad", "sad"])


def test_largest_query_lets_the_smallest_class_lower_the_query_size():
    labels = [0] * 30 + [1] * 17
    assert largest_query(labels, k_shot=5, n_query=15) == 12  # class 1: 17 - 5
    assert largest_query(labels, k_shot=1, n_query=15) == 15  # fits: unchanged
    assert largest_query(labels, k_shot=17, n_query=15) == 15  # nothing fits: the sampler will say why
    # with groups, distinct groups per class count: class 1's 17 items come from 8 people
    groups = list(range(30)) + [i % 8 for i in range(17)]
    assert largest_query(labels, k_shot=5, n_query=15, groups=groups) == 3
    sampler = EpisodeSampler(labels, 2, 5, largest_query(labels, 5, 15, groups), groups=groups)
    assert len(sampler.episode(0)) == 2 * (5 + 3)
