import torch

from episodes import EpisodeSampler
from fewshot_fer.backbones import create_backbone
from fewshot_fer.data.synthetic import SyntheticConfig, make_synthetic
from fewshot_fer.engine.evaluation import episode_accuracies
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
