import pytest
import torch

from episodes import EpisodeSampler
from fewshot_fer.backbones import create_backbone
from fewshot_fer.data.synthetic import SyntheticConfig, make_synthetic
from fewshot_fer.evaluation.episodes import episode_accuracies, evaluate_episodes
from fewshot_fer.learners import create_learner


def test_cached_feature_evaluation_equals_per_episode():
    torch.manual_seed(0)
    ds = make_synthetic("compound", "val", 32, 1, config=SyntheticConfig(4, 8, 2, 2))
    sampler = EpisodeSampler(ds.labels, 3, 2, 3, groups=ds.groups, seed=1, n_episodes=12)
    episodes = [sampler.episode(i) for i in range(12)]
    learner = create_learner("protonet", create_backbone("conv4", in_chans=1))
    cached = episode_accuracies(learner, ds, episodes, 3, 2, 3, use_feature_cache=True)
    direct = episode_accuracies(learner, ds, episodes, 3, 2, 3, use_feature_cache=False)
    assert cached.shape == (12,)
    assert torch.allclose(cached, direct)
    assert learner.training  # mode restored
    again = episode_accuracies(learner, ds, episodes, 3, 2, 3)
    assert torch.equal(cached, again)


@pytest.mark.parametrize("name", ["protonet", "centroid", "relationnet", "feat"])
def test_cached_features_give_the_per_episode_probabilities_and_embed_each_image_once(name):
    """Every learner whose embedding ignores the episode scores from cached features: the same
    probabilities as the full forward pass per episode, with each distinct image embedded once."""
    torch.manual_seed(0)
    ds = make_synthetic("compound", "val", 48, 1, config=SyntheticConfig(4, 8, 2, 2))
    sampler = EpisodeSampler(ds.labels, 3, 2, 3, groups=ds.groups, seed=2, n_episodes=10)
    episodes = [sampler.episode(i) for i in range(10)]
    options = {"n_classes": 7} if name == "centroid" else {}
    learner = create_learner(name, create_backbone("conv4", in_chans=1), **options)
    learner.train()
    for _ in range(2):  # move the batch-norm running statistics off their initial values
        learner.embed(torch.rand(16, 1, 48, 48))
    embedded = []
    original = learner.embed
    learner.embed = lambda x: embedded.append(len(x)) or original(x)
    cached = evaluate_episodes(learner, ds, episodes, 3, 2, 3, use_feature_cache=True)
    distinct = len({i for e in episodes for i in e})
    assert sum(embedded) == distinct < sum(len(e) for e in episodes)
    direct = evaluate_episodes(learner, ds, episodes, 3, 2, 3, use_feature_cache=False)
    assert torch.allclose(cached.probs, direct.probs, atol=1e-5)
    assert torch.equal(cached.query_index, direct.query_index)
    # features kept between calls (evaluate's shots): a second set of episodes embeds only its new faces
    known: dict = {}
    evaluate_episodes(learner, ds, episodes[:5], 3, 2, 3, known_features=known)
    first = len(known)
    embedded.clear()
    carried = evaluate_episodes(learner, ds, episodes, 3, 2, 3, known_features=known)
    assert sum(embedded) == distinct - first > 0 and len(known) == distinct
    assert torch.allclose(carried.probs, direct.probs, atol=1e-5)
