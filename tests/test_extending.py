"""Bringing one's own pieces: a learner defined outside the package (one class and its decorator)
and a backbone given as a plain ``nn.Module``, each trained and evaluated through the API."""

import pytest
import torch
from torch import nn

from fewshot_fer.api import evaluate, train
from fewshot_fer.learners import FewShotLearner, register_learner
from fewshot_fer.model import load_trained

FAST = dict(image_size=24, way=3, shot=2, query=3, episodes_per_epoch=4, val_episodes=5, epochs=2, seed=1)


@register_learner("test-nearest-mean")
class NearestMean(FewShotLearner):
    """Negative squared distance to each class mean: ``[n_query, n_way]``."""

    episode_independent_embedding = True

    def score(self, support_f, support_y, query_f):
        n_way = int(support_y.max()) + 1
        means = torch.stack([support_f[support_y == c].mean(0) for c in range(n_way)])
        return -torch.cdist(query_f, means) ** 2


class TinyNet(nn.Module):
    """A backbone of the user's: ``[B, 1, H, W]`` -> ``[B, 16, H/4, W/4]``."""

    out_channels = 16

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(4))

    def forward(self, x):
        return self.body(x)


def test_a_learner_of_ones_own_trains_and_evaluates(tmp_path):
    run = train(learner="test-nearest-mean", **FAST, output=str(tmp_path), name="own")
    assert len(run.history) == 2 and 0 <= run.best_accuracy <= 1
    scores = evaluate(run.checkpoint, split="test", shots=[2], way=3, episodes=6, output=str(tmp_path / "ev"))
    assert scores.accuracies[2].shape == (6,)
    model, checkpoint = load_trained(run.checkpoint)
    assert isinstance(model, NearestMean) and checkpoint["model_config"]["learner"] == "test-nearest-mean"


def test_a_backbone_module_trains_and_evaluates_and_stays_untouched(tmp_path):
    net = TinyNet()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    run = train(backbone=net, **FAST, output=str(tmp_path), name="net")
    assert all(torch.equal(v, net.state_dict()[k]) for k, v in before.items())  # trained a copy
    model, checkpoint = load_trained(run.checkpoint, backbone=TinyNet())
    assert isinstance(model.backbone, TinyNet)
    assert checkpoint["model_config"]["backbone"] == "module:test_extending.TinyNet"
    trained = torch.load(run.checkpoint, weights_only=False)["model"]
    assert any(not torch.equal(trained[f"backbone.{k}"], v) for k, v in before.items() if v.is_floating_point())
    scores = evaluate(run.checkpoint, backbone=TinyNet(), split="test", shots=[2], way=3, episodes=6,
                      output=str(tmp_path / "ev"))
    assert scores.accuracies[2].shape == (6,)
    with pytest.raises(ValueError, match=r"backbone was given as a Python module \(module:test_extending.TinyNet\); "
                                         r"pass the same module again"):
        load_trained(run.checkpoint)
    with pytest.raises(TypeError, match=r"register_learner\('x'\) takes a FewShotLearner subclass"):
        register_learner("x")(TinyNet)
