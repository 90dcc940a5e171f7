import pytest
import torch

from episodes import EpisodeCollate, make_episode


def test_collate_remaps_labels_and_keeps_class_ids():
    # 2-way 1-shot 2-query, original classes 7 and 3, images tagged by position.
    labels = torch.tensor([7, 3, 7, 7, 3, 3])
    x = torch.arange(6).float().view(6, 1, 1, 1)
    ep = EpisodeCollate(2, 1, 2)((x, labels))
    assert ep.class_ids.tolist() == [7, 3]
    assert ep.support_y.tolist() == [0, 1]
    assert ep.query_y.tolist() == [0, 0, 1, 1]
    assert ep.support_x.flatten().tolist() == [0, 1]
    assert ep.query_x.flatten().tolist() == [2, 3, 4, 5]


def test_collate_accepts_list_of_pairs():
    items = [(torch.zeros(1, 2, 2), 4), (torch.ones(1, 2, 2), 9), (torch.zeros(1, 2, 2), 4), (torch.ones(1, 2, 2), 9)]
    ep = EpisodeCollate(2, 1, 1)(items)
    assert ep.support_x.shape == (2, 1, 2, 2)
    assert ep.class_ids.tolist() == [4, 9]


def test_wrong_order_is_refused():
    with pytest.raises(ValueError, match="not in sampler order"):
        make_episode(torch.zeros(4, 1), torch.tensor([1, 2, 2, 1]), 2, 1, 1)


def test_wrong_size_is_refused():
    with pytest.raises(ValueError, match="needs 6 items, got 5 images"):
        make_episode(torch.zeros(5, 1), torch.zeros(5, dtype=torch.long), 2, 1, 2)
